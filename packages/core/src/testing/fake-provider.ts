import { zeroStats } from '../defaults'
import { ConfigError, TokenEndpointError, type TokenstashError } from '../errors'
import { refuseUnknownOptions } from '../known-options'
import type { GetTokenOptions, ProviderStats, TokenProvider, TokenSet } from '../types'

/**
 * Options of {@link fakeTokenProvider}.
 *
 * @example
 * ```ts
 * const options: FakeTokenProviderOptions = { tokens: ['first', 'after-a-401'] }
 * ```
 */
export interface FakeTokenProviderOptions {
  /** The token served. Default `'fake-token'`. */
  token?: string
  /**
   * Tokens served in turn: the first until it is invalidated (or a `forceRefresh`), then the next;
   * the last one stays. For handlers that retry after a 401.
   */
  tokens?: string[]
  /**
   * Fail every call with this error (a `TokenEndpointError`, `RateLimitedError`, ...), or with a
   * `TokenEndpointError` (`invalid_client`, not retryable) for `true`. Settable later: `fake.fail = …`.
   */
  fail?: TokenstashError | Error | true
  /** Lifetime of the token sets, ms. Default one hour. */
  lifetimeMs?: number
  /** The provider's `key`. Default `'fake:default'`. */
  key?: string
  /** Clock for the token sets' times. Default `Date.now`. */
  now?: () => number
}

/**
 * One call a {@link FakeTokenProvider} received; never a token other than the rejected one given.
 *
 * @example
 * ```ts
 * expect(fake.calls).toContainEqual({ method: 'invalidate', rejectedToken: 'stale' })
 * ```
 */
export interface FakeTokenProviderCall {
  method: 'getToken' | 'getTokenSet' | 'peekTokenSet' | 'invalidate' | 'stats'
  /** The options given to getToken/getTokenSet. */
  options?: GetTokenOptions
  /** The token given to invalidate. */
  rejectedToken?: string
}

/**
 * A {@link TokenProvider} for tests of handlers: the real interface, given tokens, no I/O.
 *
 * @example
 * ```ts
 * const fake = fakeTokenProvider({ tokens: ['t1', 't2'] })
 * await fake.getToken() // 't1'
 * await fake.invalidate('t1')
 * await fake.getToken() // 't2'
 * fake.calls.map((c) => c.method) // ['getToken', 'invalidate', 'getToken']
 * ```
 */
export interface FakeTokenProvider extends TokenProvider {
  /** Every call received, in order. */
  readonly calls: FakeTokenProviderCall[]
  /** The error every call fails with from now on; `undefined` to serve tokens again. */
  fail: Error | undefined
  peekTokenSet(): TokenSet | undefined
}

const OPTIONS = ['token', 'tokens', 'fail', 'lifetimeMs', 'key', 'now'] as const

function failure(fail: FakeTokenProviderOptions['fail']): Error | undefined {
  if (fail === undefined || fail === (false as unknown)) return undefined
  if (fail === true) {
    return new TokenEndpointError(
      'Token endpoint https://fake.invalid/token answered 401 invalid_client (fakeTokenProvider)',
      { endpoint: 'https://fake.invalid/token', status: 401, error: 'invalid_client', retryable: false },
    )
  }
  if (fail instanceof Error) return fail
  throw new ConfigError('Expected `fail` to be an Error (e.g. a TokenEndpointError) or true')
}

/**
 * A fake {@link TokenProvider} for testing a handler that uses tokenstash: it serves the tokens you
 * give it, fails with the typed error you give it, and records every call in `calls`. It works
 * wherever a provider does: `m2mToken`, `attachToken`, `withToken`.
 *
 * @example
 * ```ts
 * import { fakeTokenProvider } from '@tokenstash/core/testing'
 * import { RateLimitedError } from '@tokenstash/core'
 *
 * const orders = fakeTokenProvider({ token: 'test-token' })
 * const handler = middy(baseHandler).use(m2mToken({ fetchData: { ordersApiToken: orders } }))
 * await handler(event, context) // context.ordersApiToken === 'test-token'
 * orders.fail = new RateLimitedError('slow down', { endpoint: 'x', retryable: true, retryAt: Date.now() + 1_000 })
 * ```
 */
export function fakeTokenProvider(options: FakeTokenProviderOptions = {}): FakeTokenProvider {
  if (!options || typeof options !== 'object')
    throw new ConfigError('Expected the options of `fakeTokenProvider` to be an object')
  refuseUnknownOptions('fakeTokenProvider', options, OPTIONS)
  const tokens = options.tokens ?? [options.token ?? 'fake-token']
  if (
    !Array.isArray(tokens) ||
    tokens.length === 0 ||
    tokens.some((t) => typeof t !== 'string' || t === '')
  ) {
    throw new ConfigError(
      'Expected `tokens` to be a non-empty array of non-empty strings (or `token` a string)',
    )
  }
  const lifetimeMs = options.lifetimeMs ?? 3_600_000
  const now = options.now ?? Date.now
  const stats: ProviderStats = zeroStats()
  let index = 0
  let current: TokenSet | undefined
  const next = (): TokenSet => {
    if (!current) {
      const issuedAt = now()
      current = Object.freeze({
        accessToken: tokens[Math.min(index, tokens.length - 1)]!,
        tokenType: 'Bearer',
        issuedAt,
        expiresAt: issuedAt + lifetimeMs,
      })
      stats.fetches++
    } else stats.l1Hits++
    return current
  }
  const drop = () => {
    current = undefined
    index++
  }

  const fake: FakeTokenProvider = {
    key: options.key ?? 'fake:default',
    calls: [],
    fail: failure(options.fail),
    async getToken(opts?: GetTokenOptions) {
      fake.calls.push({ method: 'getToken', ...(opts ? { options: opts } : {}) })
      return serve(opts).accessToken
    },
    async getTokenSet(opts?: GetTokenOptions) {
      fake.calls.push({ method: 'getTokenSet', ...(opts ? { options: opts } : {}) })
      return serve(opts)
    },
    peekTokenSet() {
      fake.calls.push({ method: 'peekTokenSet' })
      if (fake.fail || !current) return undefined
      stats.l1Hits++
      return current
    },
    async invalidate(rejectedToken?: string) {
      fake.calls.push({ method: 'invalidate', ...(rejectedToken === undefined ? {} : { rejectedToken }) })
      if (rejectedToken === undefined || rejectedToken === current?.accessToken) drop()
    },
    stats() {
      fake.calls.push({ method: 'stats' })
      return { ...stats }
    },
  }
  function serve(opts: GetTokenOptions | undefined): TokenSet {
    opts?.signal?.throwIfAborted()
    if (fake.fail) {
      stats.fetchErrors++
      throw fake.fail
    }
    if (opts?.forceRefresh && current) drop()
    return next()
  }
  return fake
}
