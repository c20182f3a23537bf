/**
 * Every default of {@link m2mToken} in one place. Options left out take these values.
 *
 * @example
 * ```ts
 * m2mToken({ fetchData: { ordersApiToken }, remainingTimeMarginMs: DEFAULTS.remainingTimeMarginMs * 2 })
 * ```
 */
export const DEFAULTS = Object.freeze({
  /** `context[name]` holds the bearer string, as `@middy/secrets-manager` does with `setToContext`. */
  setToContext: true,
  /** Token requests start when the middleware is created, i.e. during the Lambda init phase. */
  disablePrefetch: false,
  /**
   * Waiting for tokens stops this long before the Lambda's deadline, so the invocation still has
   * time to turn the failure into a response (a 503) instead of timing out.
   */
  remainingTimeMarginMs: 500,
})
