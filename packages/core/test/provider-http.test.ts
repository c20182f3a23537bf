import { inspect } from 'node:util'
import {
  clientCredentials,
  cognito,
  createTokenProvider,
  DiscoveryError,
  memoryStore,
  TokenEndpointError,
} from '@tokenstash/core'
import nock from 'nock'
import { events, key32 } from './helpers'
import { recordingStore } from './stores'

const ENDPOINT = 'https://idp.example.com'
const SECRET = 's3cr3t-value-never-logged'

beforeAll(() => nock.disableNetConnect())
afterEach(() => nock.cleanAll())
afterAll(() => nock.enableNetConnect())

const source = (overrides = {}) =>
  clientCredentials({
    tokenEndpoint: `${ENDPOINT}/oauth/token`,
    clientId: 'svc',
    clientSecret: SECRET,
    scope: 'orders:read',
    ...overrides,
  })

describe('createTokenProvider over HTTP (nock)', () => {
  it('should retry a discovery that fails for a moment (a cold start must not fail on a blip)', async () => {
    const idp = nock(ENDPOINT)
      .get('/.well-known/openid-configuration')
      .reply(503, '<html>Service Unavailable</html>')
      .get('/.well-known/openid-configuration')
      .replyWithError({ code: 'ECONNRESET', message: 'socket hang up' })
      .get('/.well-known/openid-configuration')
      .reply(200, { issuer: ENDPOINT, token_endpoint: `${ENDPOINT}/oauth/token` })
      .post('/oauth/token')
      .reply(200, { access_token: 'opaque-token-d', token_type: 'Bearer', expires_in: 3600 })
    const ev = events()
    const p = createTokenProvider({
      source: clientCredentials({ issuer: ENDPOINT, clientId: 'svc', clientSecret: SECRET }),
      onEvent: ev.onEvent,
      retry: { minTimeoutMs: 1, maxTimeoutMs: 5 },
    })
    expect(await p.getToken()).toBe('opaque-token-d')
    expect(idp.isDone()).toBe(true)
    const retries = ev.seen.filter((e) => e.type === 'retry')
    expect(retries.map((e) => [e.attempt, e.code, e.status])).toEqual([
      [1, 'ERR_DISCOVERY', 503],
      [2, 'ERR_DISCOVERY', undefined],
    ])
    expect(JSON.stringify(ev.seen)).not.toContain(SECRET)
  })

  it('should not retry a discovery that cannot succeed (wrong issuer)', async () => {
    const idp = nock(ENDPOINT)
      .get('/.well-known/openid-configuration')
      .once()
      .reply(200, { issuer: 'https://evil.example.com', token_endpoint: `${ENDPOINT}/oauth/token` })
    const p = createTokenProvider({
      source: clientCredentials({ issuer: ENDPOINT, clientId: 'svc', clientSecret: SECRET }),
      retry: { minTimeoutMs: 1, maxTimeoutMs: 5 },
    })
    await expect(p.getToken()).rejects.toBeInstanceOf(DiscoveryError)
    expect(idp.isDone()).toBe(true)
    expect(nock.pendingMocks()).toEqual([])
  })

  it('should send exactly one token request for 1,000 concurrent getToken() calls on a cold provider', async () => {
    const scope = nock(ENDPOINT)
      .post('/oauth/token')
      .delay(30)
      .reply(200, { access_token: 'opaque-token-1', token_type: 'Bearer', expires_in: 3600 })
    const p = createTokenProvider({ source: source() })
    const tokens = await Promise.all(Array.from({ length: 1000 }, () => p.getToken()))
    expect(new Set(tokens)).toEqual(new Set(['opaque-token-1']))
    expect(scope.isDone()).toBe(true)
    expect(p.stats()).toMatchObject({ fetches: 1, fetchErrors: 0, l1Hits: 0 })
  })

  it('should keep the client secret out of the key, the store, events and errors', async () => {
    nock(ENDPOINT)
      .post('/oauth/token')
      .reply(401, { error: 'invalid_client', error_description: `bad secret ${SECRET}` })
      .post('/oauth/token')
      .reply(200, { access_token: 'opaque-token-2', token_type: 'bearer', expires_in: 3600 })
    const { store, written } = recordingStore(memoryStore())
    const ev = events()
    const p = createTokenProvider({ source: source(), store, encryptionKey: key32(), onEvent: ev.onEvent })
    const err = await p.getToken().catch((e) => e)
    expect(err).toBeInstanceOf(TokenEndpointError)
    expect(err).toMatchObject({ status: 401, error: 'invalid_client' })
    expect(await p.getToken()).toBe('opaque-token-2')
    const everything = [
      p.key,
      ...written,
      JSON.stringify(ev.seen),
      inspect(err),
      JSON.stringify(err),
      err.message,
    ].join('\n')
    expect(everything).not.toContain(SECRET)
    expect(written.join('\n')).not.toContain('opaque-token-2')
  })

  it('should never share a token between sources that differ in scope, audience, resource, client or namespace', () => {
    const keys = [
      createTokenProvider({ source: source() }).key,
      createTokenProvider({ source: source({ scope: 'orders:write' }) }).key,
      createTokenProvider({ source: source({ audience: 'https://api' }) }).key,
      createTokenProvider({ source: source({ resource: 'https://api' }) }).key,
      createTokenProvider({ source: source({ clientId: 'other' }) }).key,
      createTokenProvider({ source: source(), namespace: 'staging' }).key,
      createTokenProvider({ source: source({ authMethod: 'client_secret_post' }) }).key,
    ]
    expect(new Set(keys).size).toBe(keys.length)
    // Same identity, other secret (a rotation): same token.
    expect(createTokenProvider({ source: source({ clientSecret: 'rotated' }) }).key).toBe(keys[0])
  })

  it('should honour a 429 Retry-After from Cognito and then serve the token', async () => {
    const domain = 'pool.auth.eu-west-1.amazoncognito.com'
    const scope = nock(`https://${domain}`)
      .post('/oauth2/token')
      .reply(429, { error: 'TooManyRequestsException' }, { 'Retry-After': '1' })
      .post('/oauth2/token')
      .reply(200, { access_token: 'cognito-token', token_type: 'Bearer', expires_in: 3600 })
    const p = createTokenProvider({
      source: cognito({ domain, clientId: 'c', clientSecret: SECRET }),
      retry: { minTimeoutMs: 0, maxTimeoutMs: 0 },
    })
    const started = performance.now()
    expect(await p.getToken()).toBe('cognito-token')
    expect(performance.now() - started).toBeGreaterThanOrEqual(950)
    expect(scope.isDone()).toBe(true)
  })

  it('should not cache an HTML error page as a token', async () => {
    nock(ENDPOINT)
      .post('/oauth/token')
      .reply(200, '<html><body>Sign in</body></html>', { 'content-type': 'text/html' })
      .post('/oauth/token')
      .reply(200, { access_token: 'after-html', token_type: 'Bearer', expires_in: 60 })
    const p = createTokenProvider({ source: source() })
    await expect(p.getToken()).rejects.toMatchObject({ code: 'ERR_TOKEN_RESPONSE' })
    expect(await p.getToken()).toBe('after-html')
  })
})

describe('clientCredentials response size', () => {
  beforeAll(() => nock.disableNetConnect())
  afterEach(() => nock.cleanAll())

  it('should refuse a 2xx body over 256 KiB without reading it all, and not cache it', async () => {
    const huge = JSON.stringify({
      access_token: 'x'.repeat(2 * 1024 * 1024),
      token_type: 'Bearer',
      expires_in: 60,
    })
    nock(ENDPOINT)
      .post('/oauth/token')
      .reply(200, huge, { 'content-type': 'application/json' })
      .post('/oauth/token')
      .reply(200, { access_token: 'normal', token_type: 'Bearer', expires_in: 60 })
    const p = createTokenProvider({ source: source() })
    await expect(p.getToken()).rejects.toMatchObject({ code: 'ERR_TOKEN_RESPONSE', reason: 'too_large' })
    expect(await p.getToken()).toBe('normal')
  })

  it('should still report the status of a huge error page', async () => {
    nock(ENDPOINT)
      .post('/oauth/token')
      .reply(403, `<html>${'x'.repeat(1024 * 1024)}</html>`, { 'content-type': 'text/html' })
    const p = createTokenProvider({ source: source() })
    await expect(p.getToken()).rejects.toMatchObject({ code: 'ERR_TOKEN_ENDPOINT', status: 403 })
  })
})
