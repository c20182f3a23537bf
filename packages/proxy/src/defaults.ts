/**
 * Defaults of {@link createTokenProxy}; the provider's policy options keep the core's `DEFAULTS`,
 * except `retry`, which the proxy keeps short: its clients have their own retries, and a client
 * waiting on the proxy should hear about a failing upstream within about one `timeoutMs`.
 *
 * @example
 * ```ts
 * createTokenProxy({ upstream, hmacKey, maxBodyBytes: PROXY_DEFAULTS.maxBodyBytes * 2 })
 * ```
 */
export const PROXY_DEFAULTS = Object.freeze({
  /** Request bodies larger than this are refused with 400 `invalid_request` (16 KiB). */
  maxBodyBytes: 16 * 1024,
  /** Requests with another grant type than client_credentials are passed through untouched. */
  otherGrants: 'forward' as 'forward' | 'refuse',
  /** Per upstream request: past it the client gets 504 `temporarily_unavailable`. */
  timeoutMs: 10_000,
  /** How long an `invalid_client` answer is repeated from memory for the same credentials. */
  negativeTtlMs: 5_000,
  /** Cache keys (client + parameter sets) held in memory; the least recently used go first. */
  maxKeys: 10_000,
  /** `invalid_client` answers remembered for `negativeTtlMs`, apart from `maxKeys`. */
  maxNegativeKeys: 1_000,
  /** On close (SIGTERM for the CLI): how long requests in flight may take before connections are closed. */
  drainTimeoutMs: 10_000,
  /** One quick retry of network errors, 408, 429 and 5xx (the core's policy, fewer attempts). */
  retry: Object.freeze({ retries: 1, maxElapsedMs: 10_000 }),
  /** Upstream bodies larger than this are not read to the end (a token answer is a few KiB). */
  maxUpstreamBodyBytes: 256 * 1024,
})
