import type { DebugLogger } from '@tokenstash/core'
import type { IAxiosRetryConfig } from 'axios-retry'

/**
 * Options of `attachToken`.
 *
 * @example
 * ```ts
 * const options: AttachTokenOptions = { origins: ['https://orders.example.com'], retryOn401: { methods: ['get', 'post'] }, retry: { retries: 5 } }
 * ```
 */
export interface AttachTokenOptions {
  /**
   * Origins (`https://api.example.com`) that may receive the token. Default: the origin of the
   * instance's `baseURL`; an instance without an absolute `baseURL` must be given `origins`.
   * A request to any other origin is sent without a token.
   */
  origins?: readonly string[]
  /**
   * After a 401 that blames the token: invalidate it, get the next one and replay the request once.
   * `true` (default) replays idempotent methods only (GET, HEAD, OPTIONS, PUT, DELETE, TRACE);
   * `{ methods }` names the methods to replay; `false` never replays (the token is still invalidated).
   * A request can opt in or out with `{ tokenstash: { retryOn401 } }`.
   */
  retryOn401?: boolean | { methods: readonly string[] }
  /**
   * axios-retry options for network errors, 429 and 5xx, merged over {@link DEFAULTS}.retry
   * (3 retries, idempotent methods, exponential backoff with jitter, `Retry-After` honoured).
   * `false` installs no retry.
   */
  retry?: IAxiosRetryConfig | false
  /**
   * Where the line "no token sent to <origin>: not in `origins`" goes, once per origin, at debug
   * level. Default: Node's `util.debuglog('tokenstash')`, silent unless the process runs with
   * `NODE_DEBUG=tokenstash`; a logger (`console`, pino, Powertools' `Logger`) gets it through its
   * `debug` method; `false` drops it.
   */
  logger?: DebugLogger | false
}

/**
 * Per-request options, passed as `{ tokenstash: ... }` in an axios request config.
 *
 * @example
 * ```ts
 * await api.post('/orders', order, { headers: { 'Idempotency-Key': id }, tokenstash: { retryOn401: true } })
 * ```
 */
export interface TokenstashRequestConfig {
  /** Replay this request once after a 401 whatever its method (`true`), or never (`false`). */
  retryOn401?: boolean
}

/**
 * What the interceptors keep on a request's config between attempts. It is copied into a replayed
 * or retried config by axios's merge, and never holds the token.
 */
export interface TokenstashRequestState extends TokenstashRequestConfig {
  /** The `Authorization` header on this config was set by tokenstash, so a later attempt may replace it. */
  attached?: boolean
  /** This config already is the one replay after a 401. */
  replayed?: boolean
}

declare module 'axios' {
  interface AxiosRequestConfig {
    /** `false` sends no token with this request; an object tunes tokenstash for this request. */
    tokenstash?: false | TokenstashRequestConfig
  }
}
