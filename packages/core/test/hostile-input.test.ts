import { randomBytes } from 'node:crypto'
import {
  clientCredentials,
  createTokenProvider,
  memoryStore,
  type TokenSet,
  TokenstashError,
} from '@tokenstash/core'
import fc from 'fast-check'
import nock from 'nock'
import { Keyring } from '../src/encryption'
import { EntryCodec } from '../src/entry'
import { timing } from '../src/policy'
import { fakeClock, fakeSource } from './helpers'

// Property tests over hostile input: whatever a shared store holds, whatever a token endpoint
// answers, whatever options a caller passes, the answer is a right token or a typed error.

beforeAll(() => nock.disableNetConnect())
afterAll(() => nock.enableNetConnect())

const KEY = randomBytes(32)
const OTHER_KEY = randomBytes(32)
const PLANTED = 'planted.eyJzdWIiOiJhdHRhY2tlciJ9.token'

describe('a provider reading hostile store entries', () => {
  const clock = fakeClock()
  const planted = (issuedAt: number): TokenSet => ({
    accessToken: PLANTED,
    tokenType: 'Bearer',
    issuedAt,
    expiresAt: issuedAt + 3_600_000,
  })
  /** The stored record of a token entry under `key` in format version `v`, holding the planted token. */
  const plantedRecord = (key: string, v: number) => ({
    v,
    kind: 'token',
    key,
    t: PLANTED,
    tt: 'Bearer',
    ia: clock.now(),
    ea: clock.now() + 3_600_000,
  })

  /** How an entry for `key` is made hostile; each yields the string put in the store. */
  const hostile = fc.oneof(
    fc.uint8Array({ maxLength: 300 }).map((b) => async () => Buffer.from(b).toString('latin1')),
    fc.string({ maxLength: 300 }).map((s) => async () => s),
    fc.constant(async (_key: string) =>
      new EntryCodec('default:another-key', new Keyring(KEY)).encodeToken(planted(clock.now())),
    ),
    fc.constant(async (key: string) =>
      new EntryCodec(key, new Keyring(OTHER_KEY)).encodeToken(planted(clock.now())),
    ),
    fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }).map((fraction) => async (key: string) => {
      const entry = await new EntryCodec(key, new Keyring(KEY)).encodeToken(planted(clock.now()))
      return entry.slice(0, Math.floor(entry.length * fraction))
    }),
    fc
      .shuffledSubarray([0, 1, 2, 3, 4], { minLength: 5, maxLength: 5 })
      .filter((order) => order.some((v, i) => v !== i))
      .map((order) => async (key: string) => {
        const parts = (await new EntryCodec(key, new Keyring(KEY)).encodeToken(planted(clock.now()))).split(
          '.',
        )
        return order.map((i) => parts[i]).join('.')
      }),
    fc.integer({ min: 2, max: 1_000 }).map((v) => async (key: string) => {
      // A later format version, sealed properly: an old reader must not guess at its meaning.
      return new Keyring(KEY).seal(JSON.stringify(plantedRecord(key, v)), key)
    }),
    fc.constant(async (key: string) =>
      // Plaintext claiming the key: a downgrade is as bad as a forgery.
      JSON.stringify(plantedRecord(key, 1)),
    ),
  )

  it('should never serve a planted token, and replace the entry with its own', async () => {
    await fc.assert(
      fc.asyncProperty(hostile, async (make) => {
        const store = memoryStore()
        const source = fakeSource(clock.now)
        const provider = createTokenProvider({ source, store, encryptionKey: KEY, now: clock.now })
        const entry = await make(provider.key)
        await store.set(provider.key, entry, 60_000)
        await store.set(`${provider.key}#cooldown`, entry, 60_000)
        expect(await new EntryCodec(provider.key, new Keyring(KEY)).decodeToken(entry)).toBeUndefined()
        const token = await provider.getToken()
        expect(token).not.toBe(PLANTED)
        expect(source.calls).toBe(1)
        expect(provider.stats().l2Hits).toBe(0)
      }),
      { numRuns: 150 },
    )
  })

  it('should serve a genuine entry of its own key (the control that shows the property can fail)', async () => {
    const store = memoryStore()
    const source = fakeSource(clock.now)
    const provider = createTokenProvider({ source, store, encryptionKey: KEY, now: clock.now })
    await store.set(
      provider.key,
      await new EntryCodec(provider.key, new Keyring(KEY)).encodeToken(planted(clock.now())),
      60_000,
    )
    expect(await provider.getToken()).toBe(PLANTED)
    expect(source.calls).toBe(0)
  })
})

describe('cache keys of clientCredentials sources', () => {
  const option = <T>(values: T[]) => fc.option(fc.constantFrom(...values), { nil: undefined })
  const scopes = fc.subarray(['read', 'write', 'admin'])
  const options = fc.record({
    tokenEndpoint: fc.constantFrom('https://idp.example.com/oauth2/token', 'https://idp.example.com/token'),
    clientId: fc.constantFrom('orders', 'billing'),
    clientSecret: fc.constantFrom('secret-one-aaaaaaaa', 'secret-two-bbbbbbbb'),
    authMethod: option(['client_secret_basic' as const, 'client_secret_post' as const]),
    scope: fc.option(
      fc.oneof(
        scopes.map((s) => s.join(' ')),
        scopes.chain((s) =>
          fc.shuffledSubarray([...s, ...s], { minLength: s.length * 2, maxLength: s.length * 2 }),
        ),
      ),
      { nil: undefined },
    ),
    audience: option(['https://api.example.com', 'https://other.example.com']),
    resource: option(['https://r1.example.com', ['https://r2.example.com', 'https://r1.example.com']]),
    extraParams: option<Record<string, string>>([
      { organization: 'acme' },
      { organization: 'globex' },
      { tenant: 't', organization: 'acme' },
    ]),
    namespace: fc.constantFrom('prod', 'staging'),
  })

  type Options = typeof options extends fc.Arbitrary<infer T> ? T : never

  /** What decides which token comes back, normalised by hand (order and duplicates do not count). */
  function identity(o: Options): string {
    const scope = o.scope === undefined ? [] : typeof o.scope === 'string' ? o.scope.split(' ') : o.scope
    const resource =
      o.resource === undefined ? [] : typeof o.resource === 'string' ? [o.resource] : o.resource
    return JSON.stringify([
      o.tokenEndpoint,
      o.clientId,
      o.authMethod ?? 'client_secret_basic',
      [...new Set(scope.filter(Boolean))].sort(),
      o.audience ?? null,
      [...new Set(resource)].sort(),
      Object.entries(o.extraParams ?? {}).sort(),
      o.namespace,
    ])
  }

  function key(o: Options): string {
    const { namespace, ...source } = o
    return createTokenProvider({ source: clientCredentials(source), namespace }).key
  }

  it('should give two providers one key if and only if their identities are equal (never the secret)', () => {
    fc.assert(
      fc.property(options, options, (a, b) => {
        expect(key(a) === key(b)).toBe(identity(a) === identity(b))
        expect(key(a)).not.toContain(a.clientSecret)
      }),
      { numRuns: 2_000 },
    )
  })
})

describe('refresh policy math', () => {
  it('should keep refreshAt < usableUntil <= expiresAt for every lifetime from 1 s to 24 h', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 42 }),
        fc.integer({ min: 1_000, max: 86_400_000 }),
        fc.double({ min: 0.01, max: 0.99, noNaN: true }),
        fc.double({ min: 0, max: 0.5, noNaN: true }),
        fc.integer({ min: 0, max: 3_600_000 }),
        (issuedAt, lifetime, refreshRatio, jitter, expirySkewMs) => {
          fc.pre(jitter < refreshRatio)
          const set = { accessToken: 't', tokenType: 'Bearer', issuedAt, expiresAt: issuedAt + lifetime }
          const t = timing(set, { refreshRatio, jitterFraction: Math.random() * jitter, expirySkewMs })
          expect(t.refreshAt).toBeGreaterThanOrEqual(issuedAt)
          expect(t.refreshAt).toBeLessThan(t.usableUntil)
          expect(t.usableUntil).toBeLessThanOrEqual(set.expiresAt)
        },
      ),
      { numRuns: 5_000 },
    )
  })
})

describe('a clientCredentials source answered by a hostile token endpoint', () => {
  const body = fc.oneof(
    fc.string(),
    fc.json(),
    fc
      .record(
        {
          access_token: fc.oneof(
            fc.string(),
            fc.integer(),
            fc.constant(null),
            fc.constant('a.eyJleHAiOjF9.b'),
          ),
          token_type: fc.oneof(fc.constantFrom('Bearer', 'bearer', 'DPoP', ''), fc.string(), fc.integer()),
          expires_in: fc.oneof(fc.integer(), fc.double(), fc.string(), fc.constant(null)),
          scope: fc.oneof(fc.string(), fc.integer()),
          error: fc.string(),
        },
        { requiredKeys: [] },
      )
      .map((o) => JSON.stringify(o)),
  )
  const response = fc.record({
    status: fc.constantFrom(200, 201, 204, 400, 401, 403, 404, 429, 500, 502, 503),
    contentType: fc.constantFrom('application/json', 'text/html', 'text/plain', ''),
    retryAfter: fc.option(fc.oneof(fc.string(), fc.integer().map(String)), { nil: undefined }),
    body,
  })

  it('should resolve to a sane TokenSet or reject with a TokenstashError, nothing else', async () => {
    await fc.assert(
      fc.asyncProperty(response, async (r) => {
        const headers = new Headers()
        if (r.contentType) headers.set('content-type', r.contentType)
        if (r.retryAfter !== undefined) headers.set('retry-after', r.retryAfter)
        const source = clientCredentials({
          tokenEndpoint: 'https://idp.example.com/oauth2/token',
          clientId: 'orders',
          clientSecret: 'a-secret-long-enough',
          fetch: async () => new Response(r.status === 204 ? null : r.body, { status: r.status, headers }),
        })
        try {
          const set = await source.fetchToken()
          expect(typeof set.accessToken).toBe('string')
          expect(set.expiresAt).toBeGreaterThan(set.issuedAt)
        } catch (err) {
          expect(err).toBeInstanceOf(TokenstashError)
          expect((err as Error).message).not.toContain('a-secret-long-enough')
        }
      }),
      { numRuns: 500 },
    )
  })
})
