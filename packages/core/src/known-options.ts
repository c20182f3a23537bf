import { ConfigError } from './errors'

// Plain JavaScript callers get no type checking: a misspelt option (`storeTimeout`) would be ignored
// and its default used, silently. Every factory refuses names it does not know, and suggests the
// nearest one it does.

/** Edit distance (insertions, deletions, substitutions), compared case-insensitively. */
function distance(a: string, b: string): number {
  const x = a.toLowerCase()
  const y = b.toLowerCase()
  let prev = Array.from({ length: y.length + 1 }, (_, j) => j)
  for (let i = 1; i <= x.length; i++) {
    const row = [i]
    for (let j = 1; j <= y.length; j++) {
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (x[i - 1] === y[j - 1] ? 0 : 1))
    }
    prev = row
  }
  return prev[y.length]!
}

/**
 * The known name closest to `name`, or `undefined` when none is close: a differently cased name, a
 * name that one contains the other of (`storeTimeout` → `storeTimeoutMs`, `scopes` → `scope`), or
 * one within an edit distance of a third of its length (at least 2).
 *
 * @example
 * ```ts
 * nearestName('refreshRation', ['refreshRatio', 'jitter']) // 'refreshRatio'
 * ```
 */
export function nearestName(name: string, known: readonly string[]): string | undefined {
  const lower = name.toLowerCase()
  let best: string | undefined
  let bestScore = Number.POSITIVE_INFINITY
  for (const candidate of known) {
    const c = candidate.toLowerCase()
    const contains = lower.length >= 3 && (c.includes(lower) || lower.includes(c))
    const score = contains ? Math.abs(c.length - lower.length) / 100 : distance(name, candidate)
    if (score < bestScore) {
      bestScore = score
      best = candidate
    }
  }
  const limit = Math.max(2, Math.floor(name.length / 3))
  return bestScore < 1 || bestScore <= limit ? best : undefined
}

/**
 * Throws a {@link ConfigError} for the first own option of `options` that is not in `known`, naming
 * it, the factory (`what`) and the nearest known option, if one is close. Options set to
 * `undefined` are refused too when their name is unknown: a typo is a typo whatever its value.
 * For packages built on core (stores, adapters, otel, proxy, warmer), so every factory says the same.
 *
 * @example
 * ```ts
 * refuseUnknownOptions('createTokenProvider', { source, storeTimeout: 500 }, ['source', 'storeTimeoutMs'])
 * // ConfigError: Unknown option `storeTimeout` of createTokenProvider; did you mean `storeTimeoutMs`?
 * ```
 */
export function refuseUnknownOptions(what: string, options: object, known: readonly string[]): void {
  for (const name of Object.keys(options)) {
    if (known.includes(name)) continue
    const near = nearestName(name, known)
    throw new ConfigError(
      `Unknown option \`${name.slice(0, 60)}\` of ${what}; ` +
        (near ? `did you mean \`${near}\`?` : `expected one of ${known.map((k) => `\`${k}\``).join(', ')}`),
    )
  }
}
