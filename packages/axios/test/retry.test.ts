import { DEFAULTS, isRetryable, retryAfterMs, retryDelay } from '@tokenstash/axios'
import type { AxiosError } from 'axios'

function error(
  method: string,
  status?: number,
  headers: Record<string, string> = {},
  code?: string,
): AxiosError {
  return {
    isAxiosError: true,
    code,
    config: { method },
    response: status === undefined ? undefined : { status, headers },
  } as unknown as AxiosError
}

describe('retryAfterMs', () => {
  it('should read delta-seconds and HTTP dates, and 0 for anything else', () => {
    const now = () => Date.parse('2026-01-01T00:00:00Z')
    expect(retryAfterMs(error('get', 503, { 'retry-after': '3' }), now)).toBe(3_000)
    expect(retryAfterMs(error('get', 503, { 'retry-after': 'Thu, 01 Jan 2026 00:00:10 GMT' }), now)).toBe(
      10_000,
    )
    expect(retryAfterMs(error('get', 503, { 'retry-after': 'Wed, 31 Dec 2025 00:00:10 GMT' }), now)).toBe(0)
    expect(retryAfterMs(error('get', 503, { 'retry-after': 'soon' }), now)).toBe(0)
    expect(retryAfterMs(error('get', 503), now)).toBe(0)
    expect(retryAfterMs(undefined, now)).toBe(0)
  })
})

describe('retryDelay', () => {
  it('should back off exponentially, jittered within [step/2, step], up to maxDelayMs', () => {
    const { minDelayMs, maxDelayMs } = DEFAULTS.retry
    expect(retryDelay(1, undefined, () => 0)).toBe(minDelayMs / 2)
    expect(retryDelay(1, undefined, () => 1)).toBe(minDelayMs)
    expect(retryDelay(3, undefined, () => 1)).toBe(minDelayMs * 4)
    expect(retryDelay(30, undefined, () => 1)).toBe(maxDelayMs)
    expect(retryDelay(30, undefined, () => 0)).toBe(maxDelayMs / 2)
  })

  it('should never be shorter than Retry-After', () => {
    expect(retryDelay(1, error('get', 503, { 'retry-after': '4' }), () => 1)).toBe(4_000)
    expect(retryDelay(30, error('get', 429, { 'retry-after': '1' }), () => 1)).toBe(DEFAULTS.retry.maxDelayMs)
  })
})

describe('isRetryable', () => {
  it.each([
    ['get', 503, undefined, true],
    ['put', 429, undefined, true],
    ['delete', 500, undefined, true],
    ['get', undefined, 'ECONNRESET', true],
    ['head', undefined, 'ECONNREFUSED', true],
    ['post', 503, undefined, false],
    ['patch', undefined, 'ECONNRESET', false],
    ['get', 404, undefined, false],
    ['get', 401, undefined, false],
    ['get', undefined, 'ECONNABORTED', false],
    ['get', undefined, 'ERR_CANCELED', false],
    ['get', undefined, 'ENOTFOUND', false],
  ])('should answer %s %s %s with %s', (method, status, code, expected) => {
    expect(isRetryable(error(method, status, {}, code))).toBe(expected)
  })

  it('should not retry when Retry-After asks for longer than maxRetryAfterMs', () => {
    const seconds = DEFAULTS.retry.maxRetryAfterMs / 1000
    expect(isRetryable(error('get', 503, { 'retry-after': String(seconds) }))).toBe(true)
    expect(isRetryable(error('get', 503, { 'retry-after': String(seconds + 1) }))).toBe(false)
  })
})
