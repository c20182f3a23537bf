import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { inspect } from 'node:util'
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import type { TokenEvent, TokenStore } from '@tokenstash/core'
import { leakGuard, errorViews as viewsOfError } from './leak-scan'

// What the reliability suite measures and writes down, and the means to check that nothing a
// fleet says, throws or stores holds a token or a secret. `scripts/reliability.mjs` turns
// the results into docs/RELIABILITY.md.

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
/** Where each suite writes its figures (gitignored); one JSON file per suite. */
export const RESULTS_DIR = join(ROOT, '.tokenstash-tmp', 'reliability')

/**
 * `TOKENSTASH_RELIABILITY=full` (set by `npm run test:reliability`) runs the load scenarios at the
 * sizes docs/RELIABILITY.md reports (10,000 concurrent calls, 1,000-request 401 storms); `npm test`
 * runs the same scenarios smaller, to keep CI short.
 */
export const FULL_PROFILE = process.env.TOKENSTASH_RELIABILITY === 'full'

/** The figures of one scenario. */
export interface ScenarioResult {
  /** Short name, e.g. `Redis killed mid-burst, restarted`. */
  scenario: string
  /** The fault, in a few words. */
  fault: string
  /** getToken() / request calls made, and how many of them failed. */
  invocations: number
  failed: number
  /** Why the failed ones failed (error codes), when any did. */
  failedWith?: string[]
  /** Requests that reached the token endpoint. */
  tokenRequests: number
  /** Wall ms from the fault ending (or being injected, for faults that stay) to the first good answer from the intended path; `null` when not meaningful. */
  recoveryMs: number | null
  /** Tokens served at or after their expiry, or after they were rejected. Must be 0. */
  badTokensServed: number
  /** Anything else measured (heap delta, store errors, ...). */
  notes?: string
}

/**
 * Collects the figures of one test file and rewrites `RESULTS_DIR/<suite>.json` after every record,
 * so a run that fails half-way still leaves the figures it got. Rows of scenarios this run did not
 * reach (a run filtered with `-t`) are kept from the previous run of the same profile.
 *
 * @example
 * ```ts
 * const results = scenarioResults('store-faults')
 * results.record({ scenario: 'Redis down at start', fault: 'connections refused', invocations: 10, failed: 0, tokenRequests: 10, recoveryMs: 12, badTokensServed: 0 })
 * ```
 */
export function scenarioResults(suite: string): { record(result: ScenarioResult): void } {
  const file = join(RESULTS_DIR, `${suite}.json`)
  let results: ScenarioResult[] = []
  try {
    const previous = JSON.parse(readFileSync(file, 'utf8'))
    if (previous.profile === (FULL_PROFILE ? 'full' : 'ci')) results = previous.results ?? []
  } catch {
    // No previous run.
  }
  return {
    record(result) {
      const at = results.findIndex((r) => r.scenario === result.scenario)
      if (at >= 0) results[at] = result
      else results.push(result)
      mkdirSync(RESULTS_DIR, { recursive: true })
      const profile = FULL_PROFILE ? 'full' : 'ci'
      const run = { suite, profile, node: process.version, at: new Date().toISOString(), results }
      writeFileSync(file, `${JSON.stringify(run, null, 2)}\n`)
    },
  }
}

/** A token endpoint and the client that asks it: a fake identity provider, a Lambda container's config. */
export interface TokenClient {
  readonly tokenEndpoint: string
  readonly clientId: string
  readonly clientSecret: string
}

/**
 * `idp`'s endpoint, client id and secret (the secret as it is now), as `clientCredentials` takes them.
 *
 * @example
 * ```ts
 * const provider = createTokenProvider({ source: clientCredentials({ ...credentialsOf(idp), timeoutMs: 500 }) })
 * ```
 */
export function credentialsOf(idp: TokenClient): TokenClient {
  return { tokenEndpoint: idp.tokenEndpoint, clientId: idp.clientId, clientSecret: idp.clientSecret }
}

/** The `exp` (epoch ms) of a JWT-shaped token, or undefined for an opaque one. */
export function jwtExpiry(token: string): number | undefined {
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8'))
    return typeof payload.exp === 'number' ? payload.exp * 1000 : undefined
  } catch {
    return undefined
  }
}

/**
 * Counts tokens served at or after their `exp` (by the API's clock, `now`) or after a test
 * rejected them. Every token a scenario gets goes through {@link TokenAudit.served}.
 *
 * @example
 * ```ts
 * const audit = new TokenAudit()
 * audit.served(await provider.getToken())
 * expect(audit.bad).toBe(0)
 * ```
 */
export class TokenAudit {
  bad = 0
  readonly tokens = new Set<string>()
  readonly #rejected = new Set<string>()

  constructor(private readonly now: () => number = Date.now) {}

  /** From now on, serving `token` counts as bad. */
  reject(token: string): void {
    this.#rejected.add(token)
  }

  readonly #expiry = new Map<string, number | undefined>()

  served(token: string, at = this.now()): string {
    this.tokens.add(token)
    if (!this.#expiry.has(token)) this.#expiry.set(token, jwtExpiry(token))
    const exp = this.#expiry.get(token)
    if (this.#rejected.has(token) || (exp !== undefined && at >= exp)) this.bad++
    return token
  }
}

/** Every write a store received: keys, values and lease owners, to scan for leaks. */
export interface RecordingStore extends TokenStore {
  readonly written: string[]
}

/**
 * Wraps a store and records every key and value written through it (set, delete, leases).
 *
 * @example
 * ```ts
 * const store = recordingStore(redisStore({ client }))
 * expectNoLeak(store.written, [token, clientSecret])
 * ```
 */
export function recordingStore(inner: TokenStore): RecordingStore {
  const written: string[] = []
  return {
    written,
    get: (key) => {
      written.push(key)
      return inner.get(key)
    },
    set: (key, value, ttlMs) => {
      written.push(key, value)
      return inner.set(key, value, ttlMs)
    },
    delete: (key, expected) => {
      written.push(key, expected ?? '')
      return inner.delete(key, expected)
    },
    acquireLease: (key, owner, ttlMs) => {
      written.push(key, owner)
      return inner.acquireLease(key, owner, ttlMs)
    },
    releaseLease: (key, owner) => {
      written.push(key, owner)
      return inner.releaseLease(key, owner)
    },
  }
}

/** Wraps a store so every call takes `ms` longer, like a store in another availability zone. */
export function slowStore(inner: TokenStore, ms: number): TokenStore {
  const later = <T>(fn: () => Promise<T>) => new Promise<void>((r) => setTimeout(r, ms)).then(fn)
  return {
    get: (k) => later(() => inner.get(k)),
    set: (k, v, t) => later(() => inner.set(k, v, t)),
    delete: (k, e) => later(() => inner.delete(k, e)),
    acquireLease: (k, o, t) => later(() => inner.acquireLease(k, o, t)),
    releaseLease: (k, o) => later(() => inner.releaseLease(k, o)),
  }
}

/**
 * Counts `client`'s calls in flight (each `send`, its retries included), so a test can wait for the
 * calls the provider gave up on (storeTimeoutMs) before it destroys the client.
 *
 * @example
 * ```ts
 * const inFlight = countInFlight(client)
 * while (inFlight() > 0) await new Promise((r) => setTimeout(r, 10))
 * client.destroy()
 * ```
 */
export function countInFlight(client: DynamoDBClient): () => number {
  let n = 0
  client.middlewareStack.add(
    (next) => async (args) => {
      n++
      try {
        return await next(args)
      } finally {
        n--
      }
    },
    { step: 'initialize', name: 'countInFlight' },
  )
  return () => n
}

/** Every view of an error a logger may take: JSON, `util.inspect` at depth 12, and `toJSON()`. */
export function errorViews(error: unknown): string[] {
  return viewsOfError(error).map((v) => v.text)
}

/**
 * Fails with the first place a secret shows up in: the secrets are tokens and client secrets,
 * and a JWT's payload counts on its own (it would show a token even if the rest were mangled).
 *
 * @example
 * ```ts
 * expectNoLeak([...logLines, JSON.stringify(events), ...errors.flatMap(errorViews)], [token, clientSecret])
 * ```
 */
export function expectNoLeak(haystacks: readonly string[], secrets: Iterable<string>): void {
  const needles: string[] = []
  for (const s of secrets) {
    if (typeof s !== 'string' || s.length < 8) continue
    needles.push(s)
    const payload = s.split('.')[1]
    if (payload && payload.length >= 16) needles.push(payload)
  }
  for (const [i, text] of haystacks.entries()) {
    for (const needle of needles) {
      if (text.includes(needle)) {
        const at = text.indexOf(needle)
        throw new Error(
          `secret #${needles.indexOf(needle)} found in haystack #${i}, near: ${JSON.stringify(text.slice(Math.max(0, at - 120), at).replace(needle, '<SECRET>'))}`,
        )
      }
    }
  }
}

/** Everything a scenario captured: console lines, events, thrown errors. */
export interface Capture {
  lines: string[]
  events: TokenEvent[]
  errors: unknown[]
  onEvent(event: TokenEvent): void
  /** Puts the console back. */
  restore(): void
  /** Every capture as text, errors in all their views. */
  texts(): string[]
}

/**
 * Captures every console line (without printing it), every event passed to `onEvent` and every
 * error handed to `error()`.
 *
 * @example
 * ```ts
 * const capture = captureAll()
 * createTokenProvider({ source, onEvent: capture.onEvent })
 * capture.restore()
 * expectNoLeak(capture.texts(), [token])
 * ```
 */
export function captureAll(): Capture {
  const lines: string[] = []
  const events: TokenEvent[] = []
  const errors: unknown[] = []
  const methods = ['log', 'info', 'warn', 'error', 'debug', 'trace'] as const
  const saved = methods.map((m) => [m, console[m]] as const)
  // The leak guard of the integration project (test/support/leak-guard.ts) scans these lines too.
  const guard = leakGuard()
  for (const m of methods) {
    console[m] = (...args: unknown[]) => {
      const line = args.map((a) => (typeof a === 'string' ? a : inspect(a, { depth: 12 }))).join(' ')
      lines.push(line)
      guard?.capture('console', line, `console.${m} (captureAll)`)
    }
  }
  return {
    lines,
    events,
    errors,
    onEvent: (e) => events.push(e),
    restore() {
      for (const [m, fn] of saved) console[m] = fn
    },
    texts: () => [...lines, JSON.stringify(events), ...errors.flatMap(errorViews)],
  }
}
