import { IDEMPOTENT_METHODS } from '@tokenstash/core'

/**
 * Every default of `@tokenstash/axios` in one place.
 *
 * @example
 * ```ts
 * attachToken(api, provider, { retry: { retries: DEFAULTS.retry.retries + 2 } })
 * ```
 */
export const DEFAULTS = Object.freeze({
  /** Replay once after a 401 that blames the token. */
  retryOn401: true,
  /** Methods replayed after a 401 and retried after network errors, 429 and 5xx: the idempotent ones. */
  idempotentMethods: Object.freeze(IDEMPOTENT_METHODS.map((m) => m.toLowerCase())),
  retry: Object.freeze({
    /** Retries after the first attempt. */
    retries: 3,
    /** First backoff step; each retry doubles it, up to maxDelayMs, then jitter takes up to half off. */
    minDelayMs: 200,
    maxDelayMs: 5_000,
    /** A `Retry-After` longer than this is not waited for: the error goes to the caller at once. */
    maxRetryAfterMs: 30_000,
  }),
})
