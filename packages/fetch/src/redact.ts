/**
 * What replaces a token in an error.
 *
 * @example
 * ```ts
 * expect(String(err)).not.toContain(token) // the token reads as REDACTED
 * ```
 */
export const REDACTED = '[REDACTED]'

const MAX_DEPTH = 6

function clean(text: string, secrets: readonly string[]): string {
  let out = text
  for (const secret of secrets) if (out.includes(secret)) out = out.split(secret).join(REDACTED)
  return out
}

function visit(value: object, depth: number, secrets: readonly string[], seen: WeakSet<object>): void {
  if (depth > MAX_DEPTH || seen.has(value) || ArrayBuffer.isView(value)) return
  seen.add(value)
  // Fetch API Headers keep their entries out of reach of reflection.
  if (Object.prototype.toString.call(value) === '[object Headers]') {
    try {
      const headers = value as Headers
      for (const name of ['authorization', 'proxy-authorization'])
        if (headers.has(name)) headers.set(name, REDACTED)
    } catch {
      // Immutable headers (a Response's) hold no request credential.
    }
  }
  // A Request keeps its Headers behind a getter (in private fields on Node 24): read here only.
  if (Object.prototype.toString.call(value) === '[object Request]') {
    try {
      visit((value as Request).headers, depth + 1, secrets, seen)
    } catch {
      // Not a real Request after all.
    }
  }
  for (const key of Reflect.ownKeys(value)) {
    const descriptor = Object.getOwnPropertyDescriptor(value, key)
    // Getters are never called: reading one could have effects, and it holds no stored secret.
    if (!descriptor || !('value' in descriptor)) continue
    const v: unknown = descriptor.value
    if (typeof v === 'string') {
      const cleaned = clean(v, secrets)
      if (cleaned !== v && descriptor.writable) (value as Record<PropertyKey, unknown>)[key] = cleaned
    } else if (v !== null && typeof v === 'object') {
      visit(v, depth + 1, secrets, seen)
    }
  }
}

/**
 * Removes the given tokens from an error in place: its message, stack, `cause` chain and every
 * string or `Headers` it holds, so that neither `JSON.stringify(error)` nor `util.inspect(error)`
 * shows them. `withToken` does this to every error its fetch rejects with; errors of the built-in
 * fetch do not echo headers, but a wrapping fetch (tracing, logging) may.
 *
 * @example
 * ```ts
 * try { await fetch(url, { headers: { authorization: `Bearer ${token}` } }) } catch (err) {
 *   redactError(err, [token])
 *   logger.error({ err })
 * }
 * ```
 */
export function redactError(error: unknown, secrets: readonly string[]): void {
  if (error === null || typeof error !== 'object') return
  const usable = secrets.filter((s) => typeof s === 'string' && s.length >= 8)
  if (usable.length > 0) visit(error, 0, usable, new WeakSet())
}
