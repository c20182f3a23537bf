import type { TokenSet } from './types'

export interface RefreshPolicy {
  refreshRatio: number
  /** This instance's share of `jitter`, drawn once: refreshAt moves earlier by jitterFraction × lifetime. */
  jitterFraction: number
  expirySkewMs: number
}

export interface Timing {
  /** From here on the token is still served, but a refresh starts. */
  refreshAt: number
  /** From here on the token is never served. */
  usableUntil: number
}

/**
 * The skew never takes more than an eighth of the lifetime, so a 5-second test token or a
 * 60-second token from a strict issuer still has a usable window (30 s of skew would leave none).
 */
export const MAX_SKEW_FRACTION = 0.125

/**
 * When to refresh and until when a token may be served, as DESIGN.md defines them:
 * refreshAt = issuedAt + (refreshRatio − jitter)·L, usableUntil = expiresAt − skew, refreshAt ≤ usableUntil.
 * `clockMarginMs` widens the skew for times written by another host's clock (entries of a shared store).
 */
export function timing(set: TokenSet, policy: RefreshPolicy, clockMarginMs = 0): Timing {
  const lifetime = set.expiresAt - set.issuedAt
  const skew = Math.min(policy.expirySkewMs + clockMarginMs, lifetime * MAX_SKEW_FRACTION)
  const usableUntil = set.expiresAt - skew
  const ratio = Math.max(0, policy.refreshRatio - policy.jitterFraction)
  const refreshAt = Math.min(set.issuedAt + ratio * lifetime, usableUntil)
  return { refreshAt, usableUntil }
}
