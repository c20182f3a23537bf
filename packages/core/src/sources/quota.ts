// Auth0 tells a machine-to-machine client how much of its token quota is left on every token
// response; rate-limited endpoints say the same of their rate limit. Read on each response and
// reported as `quota` events, so a fleet sees the quota run out before the endpoint refuses.

/**
 * One quota or rate limit as a token response reports it.
 *
 * @example
 * ```ts
 * const q: QuotaReading = { limit: 10, remaining: 7, resetAt: Date.now() + 3_540_000, window: 'client/per_hour' }
 * ```
 */
export interface QuotaReading {
  /** Requests allowed in the window. */
  limit: number
  /** Requests left in the window. */
  remaining: number
  /** When the window's count resets, epoch ms. */
  resetAt: number
  /**
   * `client/per_hour`, `client/per_day`, `organization/per_hour`, `organization/per_day` (Auth0's
   * quota buckets, `Auth0-Client-Quota-Limit` / `Auth0-Organization-Quota-Limit`) or `rate-limit`
   * (`X-RateLimit-*`).
   */
  window: string
}

/** x-ratelimit-reset values below this are seconds from now, not an epoch (2001-09-09). */
const EPOCH_SECONDS_FLOOR = 1_000_000_000
const INTEGER = /^\d{1,15}$/

const QUOTA_HEADERS = [
  ['auth0-client-quota-limit', 'client'],
  ['auth0-organization-quota-limit', 'organization'],
] as const

/**
 * Parses one Auth0 quota header: buckets separated by commas, each `b=<bucket>;q=<quota>;r=<remaining>;t=<seconds to reset>`.
 * Malformed buckets are skipped; never throws.
 *
 * @example
 * ```ts
 * parseQuotaHeader('b=per_hour;q=10;r=7;t=3540', 'client', 0) // [{ limit: 10, remaining: 7, resetAt: 3540000, window: 'client/per_hour' }]
 * ```
 */
export function parseQuotaHeader(value: string, owner: string, now: number): QuotaReading[] {
  const out: QuotaReading[] = []
  for (const bucket of value.split(',')) {
    const fields = new Map<string, string>()
    for (const part of bucket.split(';')) {
      const eq = part.indexOf('=')
      if (eq > 0) fields.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim())
    }
    const [b, q, r, t] = ['b', 'q', 'r', 't'].map((k) => fields.get(k))
    if (!b || !/^[A-Za-z0-9_-]{1,40}$/.test(b) || ![q, r, t].every((v) => v !== undefined && INTEGER.test(v)))
      continue
    out.push({
      limit: Number(q),
      remaining: Number(r),
      resetAt: now + Number(t) * 1000,
      window: `${owner}/${b}`,
    })
  }
  return out
}

/**
 * Every quota and rate limit a token response's headers report.
 *
 * @example
 * ```ts
 * readQuotas(response.headers, Date.now()).forEach((q) => emit({ type: 'quota', ...q }))
 * ```
 */
export function readQuotas(headers: Headers, now: number): QuotaReading[] {
  const out: QuotaReading[] = []
  for (const [name, owner] of QUOTA_HEADERS) {
    const value = headers.get(name)
    if (value) out.push(...parseQuotaHeader(value.slice(0, 1_000), owner, now))
  }
  const [limit, remaining, reset] = ['limit', 'remaining', 'reset'].map((n) =>
    headers.get(`x-ratelimit-${n}`)?.trim(),
  )
  if (limit && remaining && INTEGER.test(limit) && INTEGER.test(remaining)) {
    const r = reset && INTEGER.test(reset) ? Number(reset) : undefined
    const resetAt = r === undefined ? now : r < EPOCH_SECONDS_FLOOR ? now + r * 1000 : r * 1000
    out.push({ limit: Number(limit), remaining: Number(remaining), resetAt, window: 'rate-limit' })
  }
  return out
}
