import { DiscoveryError, RateLimitedError, TokenEndpointError } from './errors'
import { sleep } from './single-flight'
import type { TokenSet } from './types'

export interface RetryOptions {
  /** Retries after the first attempt. */
  retries: number
  minTimeoutMs: number
  maxTimeoutMs: number
  factor: number
  /** Budget for all attempts and waits of one fetch. */
  maxElapsedMs: number
}

export interface RetryHooks {
  now: () => number
  /** A retryable failure; `attempt` is the number of the attempt that failed. */
  onRetry?: (error: TokenEndpointError | DiscoveryError, attempt: number) => void
  /**
   * The endpoint asked everybody to wait (429, or 503 with Retry-After): share it before waiting.
   * Returns until when callers must wait (the provider may lengthen it, never shorten it).
   */
  onRateLimit: (error: TokenEndpointError) => Promise<number>
}

/**
 * The n-th step (1-based) of exponential backoff, without jitter: minTimeoutMs·factor^(n−1),
 * capped at maxTimeoutMs.
 */
export function backoffStep(options: RetryOptions, n: number): number {
  return Math.min(options.maxTimeoutMs, options.minTimeoutMs * options.factor ** Math.max(0, n - 1))
}

function retryable(err: unknown): err is TokenEndpointError | DiscoveryError {
  try {
    return (err instanceof TokenEndpointError || err instanceof DiscoveryError) && err.retryable
  } catch {
    // `instanceof` on a revoked Proxy throws: a value nobody can look at is not ours, not retried.
    return false
  }
}

/**
 * One fetch: network errors, 408, 425, 429 and 5xx (of the token endpoint, and of discovery before
 * it) are retried within `maxElapsedMs`. Each wait is max(the endpoint's wait, jittered exponential
 * backoff); a wait beyond the budget ends the fetch at once. A 429 (with or without Retry-After)
 * is shared through `onRateLimit` before anyone waits, and a 429 that ends the fetch is a
 * RateLimitedError with that retryAt. Everything else fails fast, unwrapped. The timers are plain
 * (ref'd) timeouts: the caller waiting on this fetch keeps the process alive.
 */
export async function fetchWithRetry(
  attempt: (signal?: AbortSignal) => Promise<TokenSet>,
  options: RetryOptions,
  hooks: RetryHooks,
  signal?: AbortSignal,
): Promise<TokenSet> {
  const started = hooks.now()
  for (let n = 1; ; n++) {
    try {
      return await attempt(signal)
    } catch (err) {
      if (!retryable(err)) throw err
      const shared =
        err instanceof TokenEndpointError &&
        (err.status === 429 || (err.status === 503 && (err.retryAfterMs ?? 0) > 0))
      const retryAt = shared ? await hooks.onRateLimit(err) : undefined
      const asked = retryAt === undefined ? 0 : retryAt - hooks.now()
      const backoff = backoffStep(options, n) * (0.5 + Math.random() * 0.5)
      const delay = Math.max(asked, backoff)
      const left = options.maxElapsedMs - (hooks.now() - started)
      const last = n > options.retries
      if (last || delay > left) {
        // A rate limit that ends the fetch is reported as one, with the time the fleet waits until.
        if (retryAt !== undefined && err instanceof TokenEndpointError && (err.status === 429 || !last)) {
          throw rateLimited(err, retryAt, last ? 'still rate limited when the retries ran out' : options)
        }
        throw err
      }
      hooks.onRetry?.(err, n)
      await sleep(delay, signal)
    }
  }
}

function rateLimited(
  error: TokenEndpointError,
  retryAt: number,
  why: string | RetryOptions,
): RateLimitedError {
  const reason =
    typeof why === 'string'
      ? why
      : `the endpoint asked to wait until ${new Date(retryAt).toISOString()}, beyond the retry budget of ${why.maxElapsedMs} ms`
  return new RateLimitedError(`${error.message}; ${reason}`, {
    endpoint: error.endpoint,
    status: error.status,
    error: error.error,
    errorDescription: error.errorDescription,
    retryable: true,
    retryAfterMs: error.retryAfterMs,
    retryAt,
    cause: error,
  })
}
