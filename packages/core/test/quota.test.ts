import { auth0, createTokenProvider } from '@tokenstash/core'
import fc from 'fast-check'
import nock from 'nock'
import { parseQuotaHeader, readQuotas } from '../src/sources/quota'
import { events } from './helpers'

beforeAll(() => nock.disableNetConnect())
afterEach(() => nock.cleanAll())
afterAll(() => nock.enableNetConnect())

const NOW = 1_700_000_000_000

describe('parseQuotaHeader', () => {
  it("should read Auth0's documented example", () => {
    expect(parseQuotaHeader('b=per_hour;q=10;r=7;t=3540', 'client', NOW)).toEqual([
      { limit: 10, remaining: 7, resetAt: NOW + 3_540_000, window: 'client/per_hour' },
    ])
  })

  it('should read every well-formed bucket back, whatever the order of fields and spacing', () => {
    const bucket = fc.record({
      b: fc.stringMatching(/^[a-z_]{1,12}$/),
      q: fc.nat(),
      r: fc.nat(),
      t: fc.nat({ max: 10_000_000 }),
      order: fc.constantFrom(['b', 'q', 'r', 't'], ['t', 'r', 'q', 'b'], ['q', 'b', 't', 'r']),
      space: fc.constantFrom('', ' '),
    })
    fc.assert(
      fc.property(fc.array(bucket, { minLength: 1, maxLength: 4 }), (buckets) => {
        const header = buckets
          .map((x) => x.order.map((k) => `${x.space}${k}=${x[k as 'b' | 'q' | 'r' | 't']}`).join(';'))
          .join(',')
        expect(parseQuotaHeader(header, 'organization', NOW)).toEqual(
          buckets.map((x) => ({
            limit: x.q,
            remaining: x.r,
            resetAt: NOW + x.t * 1000,
            window: `organization/${x.b}`,
          })),
        )
      }),
    )
  })

  it('should never throw on arbitrary input, and give only whole, finite numbers', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (header) => {
        for (const q of parseQuotaHeader(header, 'client', NOW)) {
          for (const n of [q.limit, q.remaining, q.resetAt])
            expect(Number.isSafeInteger(n) && n >= 0).toBe(true)
        }
      }),
    )
  })

  it('should skip malformed buckets and keep the good ones', () => {
    expect(parseQuotaHeader('b=per_hour;q=x;r=7;t=1, b=per_day;q=100;r=3;t=2, garbage', 'client', 0)).toEqual(
      [{ limit: 100, remaining: 3, resetAt: 2000, window: 'client/per_day' }],
    )
  })
})

describe('readQuotas', () => {
  it('should read X-RateLimit headers with an epoch or a delta reset', () => {
    const headers = (reset: string) =>
      new Headers({ 'x-ratelimit-limit': '30', 'x-ratelimit-remaining': '2', 'x-ratelimit-reset': reset })
    expect(readQuotas(headers('1700000060'), NOW)).toEqual([
      { limit: 30, remaining: 2, resetAt: 1_700_000_060_000, window: 'rate-limit' },
    ])
    expect(readQuotas(headers('60'), NOW)).toEqual([
      { limit: 30, remaining: 2, resetAt: NOW + 60_000, window: 'rate-limit' },
    ])
    expect(readQuotas(new Headers({ 'x-ratelimit-limit': '30' }), NOW)).toEqual([])
  })
})

describe('quota events', () => {
  const options = {
    domain: 'acme.eu.auth0.com',
    clientId: 'c',
    clientSecret: 's',
    audience: 'https://orders.acme.com',
  }

  it('should report the quota of every Auth0 token response as events, and warn once below 10%', async () => {
    const body = { access_token: 'at', token_type: 'Bearer', expires_in: 86_400 }
    for (const r of [50, 9, 8]) {
      nock('https://acme.eu.auth0.com')
        .post('/oauth/token')
        .reply(200, body, {
          'auth0-client-quota-limit': `b=per_hour;q=100;r=${r};t=3540,b=per_day;q=1000;r=900;t=80000`,
          'x-ratelimit-limit': '30',
          'x-ratelimit-remaining': '29',
          'x-ratelimit-reset': '1',
        })
    }
    const ev = events()
    const warned: string[] = []
    const p = createTokenProvider({
      source: auth0(options),
      onEvent: ev.onEvent,
      logger: { warn: (line: string) => warned.push(line) },
    })
    for (let i = 0; i < 3; i++) await p.getToken({ forceRefresh: true })
    const quotas = ev.seen.filter((e) => e.type === 'quota')
    expect(quotas).toHaveLength(9)
    expect(quotas[0]).toEqual({
      type: 'quota',
      key: p.key,
      limit: 100,
      remaining: 50,
      resetAt: expect.any(Number),
      window: 'client/per_hour',
    })
    expect(quotas.map((q) => q.window)).toEqual(
      Array.from({ length: 3 }, () => ['client/per_hour', 'client/per_day', 'rate-limit']).flat(),
    )
    expect(warned).toEqual([
      expect.stringContaining(
        'token quota is nearly used up: 9 of 100 token requests left (client/per_hour)',
      ),
    ])
  })

  it('should report the quota of a refusal too', async () => {
    nock('https://acme.eu.auth0.com')
      .post('/oauth/token')
      .reply(429, { error: 'too_many_requests' }, { 'auth0-client-quota-limit': 'b=per_hour;q=10;r=0;t=60' })
    const ev = events()
    const p = createTokenProvider({
      source: auth0(options),
      onEvent: ev.onEvent,
      retry: { retries: 0 },
      logger: false,
    })
    await expect(p.getToken()).rejects.toMatchObject({ status: 429 })
    expect(ev.seen.find((e) => e.type === 'quota')).toMatchObject({ limit: 10, remaining: 0 })
  })
})
