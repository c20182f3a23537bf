import fc from 'fast-check'
import { MAX_SKEW_FRACTION, MIN_REFRESH_WINDOW_FRACTION, timing } from '../src/policy'

describe('timing', () => {
  const set = fc
    .record({
      issuedAt: fc.integer({ min: 0, max: 2 ** 42 }),
      lifetime: fc.integer({ min: 1, max: 400 * 86_400_000 }),
    })
    .map(({ issuedAt, lifetime }) => ({
      accessToken: 't',
      tokenType: 'Bearer',
      issuedAt,
      expiresAt: issuedAt + lifetime,
    }))
  const policy = fc
    .record({
      refreshRatio: fc.double({ min: 0.01, max: 1, noNaN: true }),
      jitter: fc.double({ min: 0, max: 0.5, noNaN: true }),
      expirySkewMs: fc.integer({ min: 0, max: 3_600_000 }),
    })
    .map(({ refreshRatio, jitter, expirySkewMs }) => ({
      refreshRatio,
      jitterFraction: Math.min(jitter, refreshRatio * 0.99),
      expirySkewMs,
    }))

  it('should order issuedAt <= refreshAt <= usableUntil < expiresAt (or == with no skew)', () => {
    fc.assert(
      fc.property(set, policy, (s, p) => {
        const t = timing(s, p)
        expect(t.refreshAt).toBeGreaterThanOrEqual(s.issuedAt)
        expect(t.refreshAt).toBeLessThanOrEqual(t.usableUntil)
        expect(t.usableUntil).toBeLessThanOrEqual(s.expiresAt)
        if (p.expirySkewMs > 0) expect(t.usableUntil).toBeLessThan(s.expiresAt)
      }),
    )
  })

  it('should never take more skew than asked or than an eighth of the lifetime', () => {
    fc.assert(
      fc.property(set, policy, (s, p) => {
        const skew = s.expiresAt - timing(s, p).usableUntil
        const lifetime = s.expiresAt - s.issuedAt
        expect(skew).toBeLessThanOrEqual(p.expirySkewMs + 1e-6)
        expect(skew).toBeLessThanOrEqual(lifetime * MAX_SKEW_FRACTION + 1e-6)
      }),
    )
  })

  it('should refresh at refreshRatio of the lifetime without jitter, unless that leaves no refresh window', () => {
    fc.assert(
      fc.property(set, policy, (s, p) => {
        const t = timing(s, { ...p, jitterFraction: 0 })
        const latest = t.usableUntil - (t.usableUntil - s.issuedAt) * MIN_REFRESH_WINDOW_FRACTION
        const expected = Math.min(s.issuedAt + p.refreshRatio * (s.expiresAt - s.issuedAt), latest)
        expect(t.refreshAt).toBeCloseTo(expected, 3)
      }),
    )
  })

  it('should put the default refresh at 75% of a one-hour token and stop serving it 30 s before expiry', () => {
    const t = timing(
      { accessToken: 't', tokenType: 'Bearer', issuedAt: 0, expiresAt: 3_600_000 },
      { refreshRatio: 0.75, jitterFraction: 0, expirySkewMs: 30_000 },
    )
    expect(t).toEqual({ refreshAt: 2_700_000, usableUntil: 3_570_000 })
  })
})
