import type { AxiosError } from 'axios'
import { type IAxiosRetryConfig, isNetworkError } from 'axios-retry'
import { DEFAULTS } from './defaults'

const IDEMPOTENT: ReadonlySet<string> = new Set(DEFAULTS.idempotentMethods)

/**
 * Milliseconds the server asked to wait through `Retry-After` (delta-seconds or an HTTP date),
 * 0 when it did not say.
 *
 * @example
 * ```ts
 * retryAfterMs(err) // 3000 for `Retry-After: 3`
 * ```
 */
export function retryAfterMs(
  error: Pick<AxiosError, 'response'> | undefined,
  now: () => number = Date.now,
): number {
  const raw: unknown = error?.response?.headers?.['retry-after']
  if (typeof raw !== 'string' && typeof raw !== 'number') return 0
  const text = String(raw).trim()
  if (/^\d+$/.test(text)) return Number(text) * 1000
  const at = Date.parse(text)
  return Number.isNaN(at) ? 0 : Math.max(0, at - now())
}

/**
 * Default `retryCondition`: a network error (not a timeout or a cancel), 429 or 5xx, on an
 * idempotent method, unless `Retry-After` asks for longer than `DEFAULTS.retry.maxRetryAfterMs`.
 *
 * @example
 * ```ts
 * attachToken(api, provider, { retry: { retryCondition: (e) => isRetryable(e) || e.response?.status === 409 } })
 * ```
 */
export function isRetryable(error: AxiosError): boolean {
  const method = error.config?.method?.toLowerCase()
  if (!method || !IDEMPOTENT.has(method)) return false
  const status = error.response?.status
  const transient =
    status === undefined ? isNetworkError(error) : status === 429 || (status >= 500 && status <= 599)
  return transient && retryAfterMs(error) <= DEFAULTS.retry.maxRetryAfterMs
}

/**
 * Default `retryDelay`: exponential backoff from `minDelayMs` doubling up to `maxDelayMs`, with up
 * to half of it taken off at random so that clients that failed together do not retry together,
 * and never shorter than the server's `Retry-After`.
 *
 * @example
 * ```ts
 * attachToken(api, provider, { retry: { retries: 5, retryDelay: (n, e) => retryDelay(n, e) * 2 } })
 * ```
 */
export function retryDelay(
  retryCount: number,
  error?: AxiosError,
  random: () => number = Math.random,
): number {
  const { minDelayMs, maxDelayMs } = DEFAULTS.retry
  const step = Math.min(maxDelayMs, minDelayMs * 2 ** Math.max(0, retryCount - 1))
  const backoff = step / 2 + (step / 2) * random()
  return Math.max(backoff, retryAfterMs(error))
}

/** The axios-retry configuration used: the defaults above, overridden by the caller's options. */
export function retryConfig(options: IAxiosRetryConfig | undefined): IAxiosRetryConfig {
  return {
    retries: DEFAULTS.retry.retries,
    retryCondition: isRetryable,
    retryDelay: (n, e) => retryDelay(n, e),
    ...options,
  }
}
