import { TokenstashError } from '@tokenstash/core'

/**
 * Why {@link TokenUnavailableError} was thrown.
 *
 * @example
 * ```ts
 * if (err instanceof TokenUnavailableError && err.reason === 'timeout') metrics.count('token_wait_timeout')
 * ```
 */
export type TokenUnavailableReason = 'timeout' | 'provider-error'

/**
 * A token the handler needs could not be had for this invocation: waiting for it would have eaten
 * into the time left for the response (`reason: 'timeout'`), or the provider failed with something
 * that is not a tokenstash error (`reason: 'provider-error'`, the original kept as `cause`).
 * Typed errors from the provider (`TokenEndpointError`, `RateLimitedError`, ...) pass through
 * unwrapped. Nothing is cached: the next invocation asks again.
 *
 * @example
 * ```ts
 * middy(handler)
 *   .use(m2mToken({ fetchData: { ordersApiToken } }))
 *   .onError(async (request) => {
 *     if (request.error instanceof TokenstashError) request.response = { statusCode: 503, body: 'Try again shortly' }
 *   })
 * ```
 */
export class TokenUnavailableError extends TokenstashError {
  /** The `fetchData` names of the tokens that were not there in time (or the one that failed). */
  readonly tokenNames: readonly string[]
  readonly reason: TokenUnavailableReason
  /** How long the middleware was allowed to wait (timeout only), in ms. */
  readonly waitedMs?: number

  constructor(
    message: string,
    details: {
      tokenNames: readonly string[]
      reason: TokenUnavailableReason
      waitedMs?: number
      cause?: unknown
    },
  ) {
    super('ERR_TOKEN_UNAVAILABLE', message, { cause: details.cause })
    this.tokenNames = details.tokenNames
    this.reason = details.reason
    this.waitedMs = details.waitedMs
  }
}
