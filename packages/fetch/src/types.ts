import type { DebugLogger, TokenProvider } from '@tokenstash/core'

/**
 * The part of a provider `withToken` uses; any `TokenProvider` fits.
 *
 * @example
 * ```ts
 * const fixed: BearerTokenProvider = { getToken: async () => process.env.API_TOKEN!, invalidate: async () => {} }
 * ```
 */
export type BearerTokenProvider = Pick<TokenProvider, 'getToken' | 'invalidate'>

/**
 * Options of `withToken`.
 *
 * @example
 * ```ts
 * const options: WithTokenOptions = { origins: ['https://orders.example.com'], retryOn401: { methods: ['GET', 'POST'] } }
 * ```
 */
export interface WithTokenOptions {
  /**
   * Origins (`https://api.example.com`) that receive the token; required, since a `fetch` has no
   * base URL to take one from. Requests to any other origin, and redirects to one, carry no token.
   */
  origins: readonly string[]
  /**
   * After a 401 that blames the token: invalidate it, get the next one and send the request once
   * more. `true` (default) replays idempotent methods (GET, HEAD, OPTIONS, PUT, DELETE, TRACE);
   * `{ methods }` names the methods to replay; `false` never replays (the token is still invalidated).
   * A body sent as a stream is never replayed: it can be read only once.
   */
  retryOn401?: boolean | { methods: readonly string[] }
  /**
   * Where the line "no token sent to <origin>: not in `origins`" goes, once per origin, at debug
   * level. Default: Node's `util.debuglog('tokenstash')`, silent unless the process runs with
   * `NODE_DEBUG=tokenstash`; a logger (`console`, pino, Powertools' `Logger`) gets it through its
   * `debug` method; `false` drops it.
   */
  logger?: DebugLogger | false
}
