import { IDEMPOTENT_METHODS } from '@tokenstash/core'

/**
 * Every default of `@tokenstash/fetch` in one place.
 *
 * @example
 * ```ts
 * withToken(fetch, provider, { origins, retryOn401: { methods: [...DEFAULTS.replayMethods, 'POST'] } })
 * ```
 */
export const DEFAULTS = Object.freeze({
  /** Replay once after a 401 that blames the token. */
  retryOn401: true,
  /** Methods replayed after such a 401: the idempotent ones (RFC 9110 §9.2.2). */
  replayMethods: IDEMPOTENT_METHODS,
  /** Redirects followed for one request before it fails, as the Fetch standard's limit. */
  maxRedirects: 20,
})
