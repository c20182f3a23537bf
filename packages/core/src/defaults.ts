/**
 * Every default in one place. Options left out of `createTokenProvider` and the sources take
 * these values.
 *
 * @example
 * ```ts
 * createTokenProvider({ source, refreshRatio: DEFAULTS.refreshRatio - 0.1 })
 * ```
 */
export const DEFAULTS = Object.freeze({
  /** Refresh when this fraction of the lifetime has passed. */
  refreshRatio: 0.75,
  /** Never hand out a token closer than this to its expiry (capped to half of the refresh window for short-lived tokens). */
  expirySkewMs: 30_000,
  /** refreshAt is pulled earlier by up to this fraction of the lifetime, drawn once per provider instance. */
  jitter: 0.05,
  retry: Object.freeze({
    /** Retries after the first attempt (network errors, 408, 429, 5xx). */
    retries: 3,
    minTimeoutMs: 200,
    maxTimeoutMs: 5_000,
    factor: 2,
    /** Total budget for all attempts and waits of one fetch. */
    maxElapsedMs: 15_000,
  }),
  lease: Object.freeze({
    /** A lease always expires: a crashed holder never blocks the fleet for longer than this. */
    ttlMs: 10_000,
    /** Losers wait this long for the winner's token, then fetch themselves (fail open). */
    waitMs: 5_000,
  }),
  /** Bound on every store call; past it the store counts as down for this call. */
  storeTimeoutMs: 1_000,
  /** After a store failure, skip the store for this long before trying it again. */
  storeRetryAfterMs: 5_000,
  /** Per-request timeout of token and discovery requests. */
  timeoutMs: 10_000,
  namespace: 'default',
  /** A token rejected again within this time after replacing a rejected one raises TokenRejectedError. */
  rejectionWindowMs: 30_000,
  /** A cooldown read from a shared store is never honoured for longer than this. */
  maxCooldownMs: 300_000,
})
