import type { ProviderStats } from './types'

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
  /** Never hand out a token closer than this to its expiry (capped at 1/8 of the lifetime for short-lived tokens). */
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
    /**
     * A lease always expires, but never while its holder is still fetching: the fetch budget
     * (retry.maxElapsedMs + one request's timeoutMs) plus 5 s. Left out, it follows `retry.maxElapsedMs`.
     */
    ttlMs: 30_000,
    /**
     * Losers wait for a live holder up to the fetch budget (retry.maxElapsedMs + timeoutMs), then
     * fetch themselves (fail open). Left out, it follows `retry.maxElapsedMs`.
     */
    waitMs: 25_000,
    /**
     * With a store that has `renewLease`: the lease's ttl, renewed every third of it while its
     * holder fetches (at least 3 × storeTimeoutMs). A holder that dies or freezes costs its waiters
     * at most this plus one check of theirs (~1 s): about 6 s.
     */
    renewedTtlMs: 5_000,
  }),
  /**
   * Inline refresh (Lambda): how long a caller that holds a usable token waits for the refresh,
   * counted from the refresh's start, before it is served the current token (its own AbortSignal
   * ends the wait sooner). The refresh goes on for the next caller; callers arriving later do not wait.
   */
  inlineRefreshWaitMs: 2_000,
  /** Bound on every store call; past it the store counts as down for this call. */
  storeTimeoutMs: 1_000,
  /**
   * After a store failure, reads are skipped for this long (no caller waits on a store that just
   * failed); writes, deletes and lease releases are still tried until `storeDownAfterFailures`.
   */
  storeRetryAfterMs: 5_000,
  /** Consecutive failed store calls after which writes are skipped too, for `storeRetryAfterMs`. */
  storeDownAfterFailures: 2,
  /** A lease holder whose fetch failed tells the waiting instances for this long (negative marker). */
  failureMarkerMs: 5_000,
  /**
   * Clocks of instances sharing a store may differ from true time by up to this much. A token read
   * from the store is served until expiresAt − expirySkewMs − 2 × this, so it is never served past
   * its real expiry (minus expirySkew) on any instance. Lifetimes where that margin would take more
   * than half of the lifetime (under 160 s with the defaults) are not shared through the store:
   * each instance fetches its own, and a `skew` event says so once.
   */
  clockSkewToleranceMs: 30_000,
  /** Per-request timeout of token and discovery requests. */
  timeoutMs: 10_000,
  namespace: 'default',
  /** A token rejected again within this time after replacing a rejected one raises TokenRejectedError. */
  rejectionWindowMs: 30_000,
  /** A cooldown read from a shared store is never honoured for longer than this. */
  maxCooldownMs: 300_000,
  /** Rejected tokens remembered per provider (until each expires), so none is adopted again. */
  maxRejectedTokens: 64,
  /** With a shared store, an instance serving a key marks it as used at most this often (for warmers). */
  useMarkEveryMs: 60_000,
  /** How long a use mark lives in the store: the longest `onlyIfUsedWithinMs` a warmer can ask about. */
  useMarkTtlMs: 86_400_000,
})

/** A provider's counters before its first call (`stats()` of a new provider, real or fake). */
export function zeroStats(): ProviderStats {
  return { l1Hits: 0, l2Hits: 0, fetches: 0, fetchErrors: 0, leaseWaits: 0, storeErrors: 0 }
}
