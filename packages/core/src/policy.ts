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
 * The refresh window (usableUntil − refreshAt) is never shorter than this fraction of the usable
 * part of the lifetime: with refreshRatio near 1, or a skew that reaches refreshAt, a token would
 * otherwise go straight from fresh to unusable, and every caller would wait for a fetch instead of
 * being served while one instance refreshes.
 */
export const MIN_REFRESH_WINDOW_FRACTION = 1 / 16

/**
 * Whether a token of this lifetime may be shared through a store between instances whose clocks
 * may differ by `clockMarginMs` (2 × clockSkewToleranceMs): only if the margin still leaves half of
 * the lifetime usable. With the defaults (30 s expiry skew, ±30 s tolerance) that is lifetimes of
 * 160 s and more; shorter tokens are fetched by each instance for itself.
 *
 * @example
 * ```ts
 * shareable(3_600_000, policy, 60_000) // true
 * ```
 */
export function shareable(lifetimeMs: number, policy: RefreshPolicy, clockMarginMs: number): boolean {
  return Math.min(policy.expirySkewMs, lifetimeMs * MAX_SKEW_FRACTION) + clockMarginMs <= lifetimeMs / 2
}

/**
 * When to refresh and until when a token may be served, as DESIGN.md defines them:
 * refreshAt = issuedAt + (refreshRatio − jitter)·L, usableUntil = expiresAt − skew, and
 * refreshAt < usableUntil (at least {@link MIN_REFRESH_WINDOW_FRACTION} of the usable span apart).
 * `clockMarginMs` widens the skew for times written by another host's clock (entries of a shared store).
 */
export function timing(set: TokenSet, policy: RefreshPolicy, clockMarginMs = 0): Timing {
  const lifetime = set.expiresAt - set.issuedAt
  // The clock margin is never capped: a cap would serve a token past its real expiry when clocks
  // differ by the tolerance. Lifetimes too short for it are not shared at all (see `shareable`).
  const skew = Math.min(policy.expirySkewMs, lifetime * MAX_SKEW_FRACTION) + clockMarginMs
  const usableUntil = set.expiresAt - skew
  const ratio = Math.max(0, policy.refreshRatio - policy.jitterFraction)
  const latest = usableUntil - (usableUntil - set.issuedAt) * MIN_REFRESH_WINDOW_FRACTION
  const refreshAt = Math.min(set.issuedAt + ratio * lifetime, latest)
  return { refreshAt, usableUntil }
}
