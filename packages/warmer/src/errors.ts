import { TokenstashError } from '@tokenstash/core'

/**
 * Why {@link WarmError} was raised: the round ran out of time (`deadline`), a provider failed with
 * something that is not a tokenstash error (`provider-error`, the original kept as `cause`), or the
 * handler reports that providers failed (`round-failed`).
 *
 * @example
 * ```ts
 * if (err instanceof WarmError && err.reason === 'deadline') metrics.count('warmer_deadline')
 * ```
 */
export type WarmErrorReason = 'deadline' | 'provider-error' | 'round-failed'

/**
 * A provider could not be warmed for a reason other than a typed tokenstash error (those pass
 * through unwrapped: `TokenEndpointError`, `RateLimitedError`, ...), or the handler's round had
 * failures. Never holds a token or a secret.
 *
 * @example
 * ```ts
 * const report = await warm()
 * for (const [name, r] of Object.entries(report.providers))
 *   if (r.status === 'failed' && r.error instanceof WarmError) console.warn(name, r.error.reason)
 * ```
 */
export class WarmError extends TokenstashError {
  readonly reason: WarmErrorReason
  /** The providers concerned, by their name in `providers`. */
  readonly providerNames: readonly string[]

  constructor(
    message: string,
    details: { reason: WarmErrorReason; providerNames: readonly string[]; cause?: unknown },
  ) {
    super('ERR_TOKEN_UNAVAILABLE', message, { cause: details.cause })
    this.reason = details.reason
    this.providerNames = details.providerNames
  }
}
