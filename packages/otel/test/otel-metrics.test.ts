import {
  ConfigError,
  clientCredentials,
  createTokenProvider,
  memoryStore,
  type TokenEvent,
  type TokenStore,
} from '@tokenstash/core'
import { KEY_ATTRIBUTE, LABEL_ATTRIBUTE, METRICS, NAMESPACE_ATTRIBUTE, otelMetrics } from '@tokenstash/otel'
import nock from 'nock'
import { sdk } from './reader'

const IDP = 'https://idp.example.com'
const KEY = { [NAMESPACE_ATTRIBUTE]: 'default' }

beforeAll(() => nock.disableNetConnect())
afterEach(() => nock.cleanAll())
afterAll(() => nock.enableNetConnect())

function source() {
  return clientCredentials({
    tokenEndpoint: `${IDP}/oauth2/token`,
    clientId: 'orders',
    clientSecret: 'orders-secret',
  })
}

const failingStore: TokenStore = {
  get: () => Promise.reject(new Error('ECONNREFUSED')),
  set: () => Promise.reject(new Error('ECONNREFUSED')),
  delete: () => Promise.reject(new Error('ECONNREFUSED')),
  acquireLease: () => Promise.reject(new Error('ECONNREFUSED')),
  releaseLease: () => Promise.reject(new Error('ECONNREFUSED')),
}

describe('otelMetrics', () => {
  it('should refuse options that are not an object and a meter that is not one', () => {
    expect(() => otelMetrics(null as never)).toThrow(ConfigError)
    expect(() => otelMetrics({ meter: {} as never })).toThrow(/`meter`/)
  })

  it('should record what a real provider reports: requests, duration, hits, invalidations, store errors', async () => {
    const otel = sdk()
    let clock = 1_000_000
    nock(IDP)
      .post('/oauth2/token')
      .twice()
      .reply(200, () => ({
        access_token: `secret-access-token-${clock}`,
        token_type: 'Bearer',
        expires_in: 3600,
      }))
    const provider = createTokenProvider({
      source: source(),
      store: failingStore,
      encryption: false,
      now: () => clock,
      onEvent: otelMetrics({ meter: otel.meter }),
    })
    const first = await provider.getToken()
    await provider.getToken()
    await provider.getToken()
    clock += 1
    await provider.invalidate(first)
    const second = await provider.getToken()
    const points = await otel.collect()
    const key = { [NAMESPACE_ATTRIBUTE]: 'default' }

    expect(points[METRICS.tokenRequests]).toEqual([
      { attributes: { ...key, 'tokenstash.mode': 'fetch', 'tokenstash.outcome': 'success' }, value: 2 },
    ])
    expect(points[METRICS.fetchDuration]).toEqual([
      { attributes: { ...key, 'tokenstash.mode': 'fetch' }, value: { count: 2, sum: expect.any(Number) } },
    ])
    expect(points[METRICS.hits]).toEqual([
      { attributes: { ...key, 'tokenstash.cache.tier': 'memory' }, value: 2 },
    ])
    expect(points[METRICS.invalidations]).toEqual([{ attributes: key, value: 1 }])
    expect(points[METRICS.storeErrors]).toEqual([
      { attributes: { ...key, 'error.type': 'ERR_STORE' }, value: 1 },
    ])
    // Only the secret-free key: no token, no secret in any attribute.
    const text = JSON.stringify(points)
    for (const secret of [first, second, 'orders-secret']) expect(text).not.toContain(secret)
    await otel.shutdown()
  })

  it('should record retries and failed requests with error.type and the HTTP status, and cooldowns', async () => {
    const otel = sdk()
    nock(IDP).post('/oauth2/token').reply(503).post('/oauth2/token').reply(429, {}, { 'retry-after': '30' })
    const provider = createTokenProvider({
      source: source(),
      retry: { retries: 1, minTimeoutMs: 1, maxTimeoutMs: 1 },
      onEvent: otelMetrics({ meter: otel.meter }),
    })
    await expect(provider.getToken()).rejects.toThrow()
    await expect(provider.getToken()).rejects.toThrow()
    const points = await otel.collect()
    const key = { [NAMESPACE_ATTRIBUTE]: 'default' }
    expect(points[METRICS.tokenRequests]).toEqual(
      expect.arrayContaining([
        {
          attributes: {
            ...key,
            'tokenstash.outcome': 'retry',
            'http.response.status_code': 503,
            'error.type': 'ERR_TOKEN_ENDPOINT',
          },
          value: 1,
        },
      ]),
    )
    expect(points[METRICS.cooldowns]?.[0]?.value).toBeGreaterThanOrEqual(1)
    expect(points[METRICS.errors]?.map((p) => p.attributes['error.type'])).toContain('ERR_RATE_LIMITED')
    // The 429 was a request; the second call's cooldown refusal made none: two callers' errors, one failed request.
    const failed =
      points[METRICS.tokenRequests]?.filter((p) => p.attributes['tokenstash.outcome'] === 'error') ?? []
    expect(failed).toEqual([
      {
        attributes: {
          ...key,
          'tokenstash.outcome': 'error',
          'http.response.status_code': 429,
          'error.type': 'ERR_RATE_LIMITED',
        },
        value: 1,
      },
    ])
    expect(points[METRICS.errors]?.reduce((n, p) => n + (p.value as number), 0)).toBe(2)
    await otel.shutdown()
  })

  it('should record lease waits by outcome, store timeouts, store-tier hits and refreshes', async () => {
    const otel = sdk()
    const onEvent = otelMetrics({ meter: otel.meter })
    const events: TokenEvent[] = [
      { type: 'lease-wait', key: 'default:abc', durationMs: 120, expiresAt: 5 },
      { type: 'lease-wait', key: 'default:abc', durationMs: 5000 },
      {
        type: 'store-error',
        key: 'default:abc',
        code: 'ERR_STORE',
        message: 'Store get took longer than storeTimeoutMs (1000 ms)',
      },
      { type: 'store-recovered', key: 'default:abc' },
      { type: 'hit-store', key: 'default:abc', expiresAt: 5 },
      { type: 'refresh', key: 'default:abc', durationMs: 250, expiresAt: 5 },
    ]
    for (const e of events) onEvent(e)
    const points = await otel.collect()
    expect(points[METRICS.leaseWaits]).toEqual([
      { attributes: { ...KEY, 'tokenstash.outcome': 'adopted' }, value: 1 },
      { attributes: { ...KEY, 'tokenstash.outcome': 'timed_out' }, value: 1 },
    ])
    expect(points[METRICS.leaseWaitDuration]?.map((p) => p.value)).toEqual([
      { count: 1, sum: 0.12 },
      { count: 1, sum: 5 },
    ])
    expect(points[METRICS.storeErrors]).toEqual([
      { attributes: { ...KEY, 'error.type': 'timeout' }, value: 1 },
    ])
    expect(points[METRICS.storeRecoveries]).toEqual([{ attributes: KEY, value: 1 }])
    expect(points[METRICS.hits]).toEqual([
      { attributes: { ...KEY, 'tokenstash.cache.tier': 'store' }, value: 1 },
    ])
    expect(points[METRICS.fetchDuration]).toEqual([
      { attributes: { ...KEY, 'tokenstash.mode': 'refresh' }, value: { count: 1, sum: 0.25 } },
    ])
    await otel.shutdown()
  })

  it("should count a source's auth-method-fallback under the provider's key", async () => {
    const otel = sdk()
    nock(IDP)
      .get('/.well-known/openid-configuration')
      .reply(200, {
        issuer: IDP,
        token_endpoint: `${IDP}/oauth2/token`,
        token_endpoint_auth_methods_supported: ['none'],
      })
      .post('/oauth2/token')
      .reply(200, { access_token: 'secret-access-token', token_type: 'Bearer', expires_in: 3600 })
    const onEvent = otelMetrics({ meter: otel.meter })
    const discovered = clientCredentials({ issuer: IDP, clientId: 'orders', clientSecret: 'orders-secret' })
    const orders = createTokenProvider({ source: discovered, onEvent })
    await orders.getToken()
    expect((await otel.collect())[METRICS.sourceEvents]).toEqual([
      { attributes: { ...KEY, 'tokenstash.event': 'auth-method-fallback' }, value: 1 },
    ])
    await otel.shutdown()
  })

  it('should ignore event types it does not know, and malformed events', async () => {
    const otel = sdk()
    const onEvent = otelMetrics({ meter: otel.meter })
    expect(() =>
      onEvent({ type: 'something-new', key: 'default:abc', extra: 1 } as unknown as TokenEvent),
    ).not.toThrow()
    expect(() => onEvent(undefined as never)).not.toThrow()
    expect(await otel.collect()).toEqual({})
    await otel.shutdown()
  })

  it('should use the global MeterProvider by default, looked up at the first event', async () => {
    const onEvent = otelMetrics()
    const otel = sdk({ global: true })
    onEvent({ type: 'hit-memory', key: 'default:abc', expiresAt: 5 })
    expect((await otel.collect())[METRICS.hits]).toEqual([
      { attributes: { ...KEY, 'tokenstash.cache.tier': 'memory' }, value: 1 },
    ])
    await otel.shutdown()
  })
})

describe('otelMetrics: requests, not callers', () => {
  const requestErrors = (points: Record<string, { attributes: Record<string, unknown>; value: unknown }[]>) =>
    (points[METRICS.tokenRequests] ?? [])
      .filter((p) => p.attributes['tokenstash.outcome'] === 'error')
      .reduce((n, p) => n + (p.value as number), 0)
  const callerErrors = (points: Record<string, { value: unknown }[]>) =>
    (points[METRICS.errors] ?? []).reduce((n, p) => n + (p.value as number), 0)

  it('should count one failed request once when 50 callers joined it, and the 50 callers as errors', async () => {
    const otel = sdk()
    nock(IDP).post('/oauth2/token').reply(400, { error: 'invalid_client' })
    const provider = createTokenProvider({ source: source(), onEvent: otelMetrics({ meter: otel.meter }) })
    const calls = Array.from({ length: 50 }, () => provider.getToken().catch((err: unknown) => err))
    expect((await Promise.all(calls)).every((e) => e instanceof Error)).toBe(true)
    const points = await otel.collect()
    expect(requestErrors(points)).toBe(1)
    expect(callerErrors(points)).toBe(50)
    await otel.shutdown()
  })

  it('should count nothing for the instances that got the failure through the store', async () => {
    const otel = sdk()
    nock(IDP).post('/oauth2/token').reply(400, { error: 'invalid_client' })
    const store = memoryStore()
    const onEvent = otelMetrics({ meter: otel.meter })
    const fleet = Array.from({ length: 5 }, () =>
      createTokenProvider({ source: source(), store, encryption: false, onEvent }),
    )
    const results = await Promise.all(fleet.map((p) => p.getToken().catch((err: unknown) => err)))
    expect(results.every((e) => e instanceof Error)).toBe(true)
    expect(nock.isDone()).toBe(true)
    const points = await otel.collect()
    expect(requestErrors(points)).toBe(1)
    expect(callerErrors(points)).toBe(5)
    await otel.shutdown()
  })
})

describe('otelMetrics: cardinality', () => {
  const OVERFLOW = 'otel.metric.overflow'
  const tenThousandKeys = (onEvent: (e: TokenEvent) => void) => {
    for (let i = 0; i < 10_000; i++) {
      onEvent({ type: 'fetch', key: `orders:key-${i}`, durationMs: 5, expiresAt: 1 })
    }
  }

  it('should keep 10,000 providers of one namespace in one series by default (the SDK keeps 2,000)', async () => {
    const otel = sdk()
    tenThousandKeys(otelMetrics({ meter: otel.meter, label: 'orders-api' }))
    const points = await otel.collect()
    expect(points[METRICS.tokenRequests]).toEqual([
      {
        attributes: {
          [NAMESPACE_ATTRIBUTE]: 'orders',
          [LABEL_ATTRIBUTE]: 'orders-api',
          'tokenstash.mode': 'fetch',
          'tokenstash.outcome': 'success',
        },
        value: 10_000,
      },
    ])
    await otel.shutdown()
  })

  it('should add the key only when asked (perKey), and then past 2,000 keys the SDK merges into overflow', async () => {
    const otel = sdk()
    tenThousandKeys(otelMetrics({ meter: otel.meter, perKey: true }))
    const points = (await otel.collect())[METRICS.tokenRequests] ?? []
    // What the README's series count warns about: 1,999 keys kept, 8,001 counted under overflow.
    expect(points.filter((p) => p.attributes[KEY_ATTRIBUTE] !== undefined)).toHaveLength(1_999)
    expect(points.find((p) => p.attributes[OVERFLOW] === true)?.value).toBe(8_001)
    await otel.shutdown()
  })
})

describe('otelMetrics: options, global meter and quota', () => {
  it('should refuse an unknown option by name and suggest the nearest', () => {
    expect(() => otelMetrics({ meterr: {} } as never)).toThrow(ConfigError)
    expect(() => otelMetrics({ meterr: {} } as never)).toThrow(/`meterr`.*`meter`/)
    expect(() => otelMetrics({ perkey: true } as never)).toThrow(/`perkey`.*`perKey`/)
    expect(() => otelMetrics({ label: '' })).toThrow(/`label`/)
    expect(() => otelMetrics({ perKey: 'yes' } as never)).toThrow(/`perKey`/)
  })

  it('should record through a MeterProvider registered after its first events', async () => {
    const onEvent = otelMetrics()
    // Before any SDK is registered: the no-op provider, nothing to record into.
    onEvent({ type: 'hit-memory', key: 'default:abc', expiresAt: 5 })
    const otel = sdk({ global: true })
    onEvent({ type: 'hit-memory', key: 'default:abc', expiresAt: 5 })
    onEvent({ type: 'hit-store', key: 'default:abc', expiresAt: 5 })
    expect((await otel.collect())[METRICS.hits]).toEqual([
      { attributes: { ...KEY, 'tokenstash.cache.tier': 'memory' }, value: 1 },
      { attributes: { ...KEY, 'tokenstash.cache.tier': 'store' }, value: 1 },
    ])
    await otel.shutdown()
  })

  it('should report the latest quota as gauges by window', async () => {
    const otel = sdk()
    const onEvent = otelMetrics({ meter: otel.meter })
    const quota = (remaining: number) =>
      ({ type: 'quota', key: 'default:abc', limit: 10, remaining, resetAt: 1, window: 'per_hour' }) as never
    onEvent(quota(7))
    onEvent(quota(6))
    const points = await otel.collect()
    const window = { ...KEY, 'tokenstash.quota.window': 'per_hour' }
    expect(points[METRICS.quotaRemaining]).toEqual([{ attributes: window, value: 6 }])
    expect(points[METRICS.quotaLimit]).toEqual([{ attributes: window, value: 10 }])
    await otel.shutdown()
  })
})
