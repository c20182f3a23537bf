import { DiscoveryError, RateLimitedError, TokenEndpointError, TokenstashError } from './errors'
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
  /** A retryable failure; `attempt` is the number of the attempt that failed. */
  onRetry?: (error: TokenEndpointError | DiscoveryError, attempt: number) => void
  /** The endpoint asked everybody to wait (429/503 with Retry-After): share it. */
  onRetryAfter?: (retryAt: number, error: TokenEndpointError) => Promise<void> | void
  now: () => number
}

/**
 * One fetch with p-retry: network errors, 408, 425, 429 and 5xx (of the token endpoint, and of
 * discovery before it) are retried with exponential backoff and full jitter within a time budget; `Retry-After` is waited out on top of the backoff (or, when
 * it lies beyond the budget, turned into a RateLimitedError at once). A 429 that outlasts the
 * retries is a RateLimitedError too. Everything else fails fast, unwrapped.
 */
export async function fetchWithRetry(
  attempt: (signal?: AbortSignal) => Promise<TokenSet>,
  options: RetryOptions,
  hooks: RetryHooks,
  signal?: AbortSignal,
): Promise<TokenSet> {
  // Loaded on first fetch, not at import: a warm container never pays for it.
  const { default: pRetry, AbortError } = await import('p-retry')
  const started = hooks.now()
  try {
    return await pRetry(
      async () => {
        try {
          return await attempt(signal)
        } catch (err) {
          // A discovery that failed for a moment is retried like the token request it precedes.
          if ((err instanceof TokenEndpointError || err instanceof DiscoveryError) && err.retryable) throw err
          // AbortError stops p-retry and rethrows the original error as it is.
          throw new AbortError(
            err instanceof Error ? err : new TokenstashError('ERR_TOKEN_ENDPOINT', String(err)),
          )
        }
      },
      {
        retries: options.retries,
        factor: options.factor,
        minTimeout: options.minTimeoutMs,
        maxTimeout: options.maxTimeoutMs,
        randomize: true,
        maxRetryTime: options.maxElapsedMs,
        signal,
        unref: true,
        onFailedAttempt: async ({ error, attemptNumber, retriesLeft }) => {
          if (!(error instanceof TokenEndpointError || error instanceof DiscoveryError)) return
          const wait = error instanceof TokenEndpointError ? error.retryAfterMs : undefined
          if (error instanceof TokenEndpointError && wait !== undefined && wait > 0) {
            const retryAt = hooks.now() + wait
            // Shared before anyone sees the error, so the rest of the fleet backs off at once.
            if (error.status === 429 || error.status === 503) await hooks.onRetryAfter?.(retryAt, error)
            const left = options.maxElapsedMs - (hooks.now() - started)
            if (retriesLeft > 0 && wait > left) {
              throw new RateLimitedError(
                `${error.message}; the endpoint asked to wait ${Math.ceil(wait / 1000)} s, longer than the retry budget of ${options.maxElapsedMs} ms`,
                { ...detailsOf(error), retryAt, cause: error },
              )
            }
            if (retriesLeft > 0) {
              hooks.onRetry?.(error, attemptNumber)
              await sleep(wait, signal)
              return
            }
          }
          if (retriesLeft > 0) hooks.onRetry?.(error, attemptNumber)
        },
      },
    )
  } catch (err) {
    throw lastRateLimit(err, options, hooks.now())
  }
}

/**
 * A 429 that outlasted every retry is a rate limit like any other, so callers that handle
 * ERR_RATE_LIMITED see it. Without a hint from the endpoint, retryAt is one backoff step away.
 */
function lastRateLimit(err: unknown, options: RetryOptions, now: number): unknown {
  if (!(err instanceof TokenEndpointError) || err instanceof RateLimitedError || err.status !== 429)
    return err
  const wait = err.retryAfterMs ?? options.minTimeoutMs
  return new RateLimitedError(`${err.message}; still rate limited when the retries ran out`, {
    ...detailsOf(err),
    retryAt: now + wait,
    cause: err,
  })
}

function detailsOf(error: TokenEndpointError) {
  return {
    endpoint: error.endpoint,
    status: error.status,
    error: error.error,
    errorDescription: error.errorDescription,
    retryable: true,
    retryAfterMs: error.retryAfterMs,
  }
}
