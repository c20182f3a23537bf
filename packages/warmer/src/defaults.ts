/**
 * Every default of {@link createWarmer} in one place. Options left out take these values.
 *
 * @example
 * ```ts
 * createWarmer({ providers, intervalMs: 300_000, concurrency: DEFAULTS.concurrency * 2 })
 * ```
 */
export const DEFAULTS = Object.freeze({
  /** Providers warmed at the same time in one round. */
  concurrency: 8,
  /**
   * A round makes tokens last until the next round plus this fraction of `intervalMs`: room for a
   * late schedule, a slow round and the token request itself.
   */
  marginRatio: 0.5,
  /** A round stops starting providers (and stops waiting) this long before the Lambda's deadline. */
  deadlineMarginMs: 500,
  /** The longest `onlyIfUsedWithinMs`: instances' use marks live in the store for a day. */
  maxOnlyIfUsedWithinMs: 86_400_000,
})
