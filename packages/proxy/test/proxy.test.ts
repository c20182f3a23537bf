import { randomBytes } from 'node:crypto'
import { ConfigError, memoryStore, type TokenStore } from '@tokenstash/core'
import { createTokenProxy, type LambdaHttpEvent, type TokenProxyOptions } from '@tokenstash/proxy'
import nock from 'nock'
import { proxyOnClock, tokenRequestEvent } from './harness'

const IDP = 'https://idp.example.com'
const UPSTREAM = `${IDP}/oauth2/token`
const SECRET = 's3cr3t-never-in-a-log'
const BASIC = `Basic ${Buffer.from(`svc:${SECRET}`).toString('base64')}`

beforeAll(() => nock.disableNetConnect())
afterEach(() => nock.cleanAll())
afterAll(() => nock.enableNetConnect())

const setup = (options: Partial<TokenProxyOptions> = {}) => proxyOnClock(UPSTREAM, options)

/** An HTTP API (payload 2.0) event; the integration tests cover v1 and Function URLs too. */
const event = (body: string, overrides: Partial<LambdaHttpEvent> = {}, method = 'POST') =>
  tokenRequestEvent(BASIC, body, overrides, method)

const tokenBody = (token: string, expiresIn = 3600) => ({
  access_token: token,
  token_type: 'Bearer',
  expires_in: expiresIn,
})

/**
 * A proxy refreshing at exactly 75% with a 10 s expiry skew (and `options`), whose IdP first issues
 * `token` for 100 s; `idp` takes the next answers, `req` asks for a token.
 */
function firstTokenFor100s(token: string, options: Partial<TokenProxyOptions>) {
  const { proxy, clock } = setup({ jitter: 0, expirySkewMs: 10_000, ...options })
  const idp = nock(IDP).post('/oauth2/token').reply(200, tokenBody(token, 100))
  return { proxy, clock, idp, req: event('grant_type=client_credentials') }
}

describe('createTokenProxy', () => {
  it('should forward a miss as received, then answer hits with expires_in counted down', async () => {
    const { proxy, clock } = setup()
    const idp = nock(IDP, { reqheaders: { authorization: BASIC } })
      .post('/oauth2/token', 'grant_type=client_credentials&scope=read')
      .reply(200, { ...tokenBody('opaque-1'), scope: 'read' })
    const req = event('grant_type=client_credentials&scope=read')

    const miss = await proxy.lambdaHandler(req)
    clock.t += 600_000
    const hit = await proxy.lambdaHandler(req)

    idp.done()
    expect(miss).toMatchObject({ statusCode: 200, headers: { 'cache-status': 'tokenstash; fwd=miss' } })
    expect(hit.headers).toMatchObject({ 'cache-status': 'tokenstash; hit', 'cache-control': 'no-store' })
    expect(JSON.parse(miss.body)).toEqual({ ...tokenBody('opaque-1', 3600), scope: 'read' })
    expect(JSON.parse(hit.body)).toEqual({ ...tokenBody('opaque-1', 3000), scope: 'read' })
  })

  it('should keep the keys used last when maxKeys is reached, hits included', async () => {
    const { proxy } = setup({ maxKeys: 2 })
    const idp = nock(IDP)
      .post('/oauth2/token', /scope=a/)
      .reply(200, tokenBody('token-a'))
      .post('/oauth2/token', /scope=b/)
      .reply(200, tokenBody('token-b'))
      .post('/oauth2/token', /scope=c/)
      .reply(200, tokenBody('token-c'))
      .post('/oauth2/token', /scope=b/)
      .reply(200, tokenBody('token-b2'))
    const ask = async (scope: string) => {
      const res = await proxy.lambdaHandler(event(`grant_type=client_credentials&scope=${scope}`))
      return [JSON.parse(res.body).access_token, res.headers['cache-status']]
    }
    await ask('a')
    await ask('b')
    // A hit on a makes b the least recently used key: c pushes b out, not a.
    expect(await ask('a')).toEqual(['token-a', 'tokenstash; hit'])
    await ask('c')
    expect(await ask('a')).toEqual(['token-a', 'tokenstash; hit'])
    expect(await ask('b')).toEqual(['token-b2', 'tokenstash; fwd=miss'])
    idp.done()
  })

  it('should never serve a token past usableUntil, and refresh from 75% of the lifetime', async () => {
    const { proxy, clock, idp, req } = firstTokenFor100s('first', { backgroundRefresh: false })
    idp.post('/oauth2/token').reply(200, tokenBody('second', 100))
    expect(JSON.parse((await proxy.lambdaHandler(req)).body).access_token).toBe('first')
    clock.t += 74_000
    expect(JSON.parse((await proxy.lambdaHandler(req)).body).access_token).toBe('first')
    clock.t += 2_000
    const refreshed = JSON.parse((await proxy.lambdaHandler(req)).body)
    expect(refreshed).toEqual(tokenBody('second', 100))
  })

  it('should keep answering hits from 75% of the lifetime while one refresh runs in the background', async () => {
    const { proxy, clock, idp, req } = firstTokenFor100s('first', { backgroundRefresh: true })
    let release: () => void = () => undefined
    const held = new Promise<void>((resolve) => {
      release = resolve
    })
    idp.post('/oauth2/token').reply(async () => {
      await held
      return [200, tokenBody('second', 100)]
    })
    await proxy.lambdaHandler(req)
    clock.t += 80_000
    const during = await Promise.all([proxy.lambdaHandler(req), proxy.lambdaHandler(req)])
    expect(during.map((r) => JSON.parse(r.body).access_token)).toEqual(['first', 'first'])
    expect(during.map((r) => r.headers['cache-status'])).toEqual(['tokenstash; hit', 'tokenstash; hit'])
    release()
    // Hits go on while the refresh lands; no hit sends a second refresh.
    let after = 'first'
    for (let i = 0; i < 500 && after === 'first'; i++) {
      await new Promise((r) => setTimeout(r, 5))
      after = JSON.parse((await proxy.lambdaHandler(req)).body).access_token
    }
    expect(after).toBe('second')
    idp.done()
  })

  it('should not serve a token past usableUntil when the upstream fails, but pass the failure on', async () => {
    const { proxy, clock, idp, req } = firstTokenFor100s('short-lived', { backgroundRefresh: false })
    idp.post('/oauth2/token').times(2).reply(500, { error: 'server_error' })
    await proxy.lambdaHandler(req)
    clock.t += 80_000
    // Refresh window: the refresh fails, the still usable token is served.
    expect(JSON.parse((await proxy.lambdaHandler(req)).body)).toMatchObject({
      access_token: 'short-lived',
      expires_in: 20,
    })
    clock.t += 11_000
    const expired = await proxy.lambdaHandler(req)
    expect(expired.statusCode).toBe(500)
    expect(expired.body).not.toContain('short-lived')
  })

  it('should pass an error through with its status, body and Retry-After, and not cache it', async () => {
    const { proxy } = setup()
    nock(IDP)
      .post('/oauth2/token')
      .reply(400, { error: 'invalid_scope', error_description: 'nope' }, { 'retry-after': '7' })
      .post('/oauth2/token')
      .reply(200, tokenBody('after-error'))
    const req = event('grant_type=client_credentials&scope=admin')
    const refused = await proxy.lambdaHandler(req)
    expect(refused).toMatchObject({
      statusCode: 400,
      headers: { 'retry-after': '7', 'cache-status': 'tokenstash; fwd=miss; fwd-status=400' },
    })
    expect(JSON.parse(refused.body)).toEqual({ error: 'invalid_scope', error_description: 'nope' })
    expect((await proxy.lambdaHandler(req)).statusCode).toBe(200)
  })

  it('should answer invalid_client from a negative cache for negativeTtlMs, then ask again', async () => {
    const { proxy, clock } = setup({ negativeTtlMs: 3_000 })
    const idp = nock(IDP).post('/oauth2/token').times(2).reply(401, { error: 'invalid_client' })
    const req = event('grant_type=client_credentials')
    await proxy.lambdaHandler(req)
    const cached = await proxy.lambdaHandler(req)
    expect(cached).toMatchObject({
      statusCode: 401,
      headers: { 'cache-status': 'tokenstash; hit; detail=invalid_client' },
    })
    expect(idp.pendingMocks()).toHaveLength(1)
    clock.t += 3_001
    expect((await proxy.lambdaHandler(req)).headers['cache-status']).toBe(
      'tokenstash; fwd=miss; fwd-status=401',
    )
    idp.done()
  })

  it('should answer 504 temporarily_unavailable when the upstream outlasts timeoutMs', async () => {
    const { proxy } = setup({ timeoutMs: 50 })
    nock(IDP).post('/oauth2/token').delay(500).reply(200, tokenBody('late'))
    const res = await proxy.lambdaHandler(event('grant_type=client_credentials'))
    expect(res.statusCode).toBe(504)
    expect(JSON.parse(res.body)).toMatchObject({ error: 'temporarily_unavailable' })
  })

  it('should answer 502 for a 200 that is not a usable token, and cache nothing', async () => {
    const { proxy } = setup()
    nock(IDP)
      .post('/oauth2/token')
      .reply(200, '<html>login</html>', { 'content-type': 'text/html' })
      .post('/oauth2/token')
      .reply(200, tokenBody('good'))
    const req = event('grant_type=client_credentials')
    const bad = await proxy.lambdaHandler(req)
    expect(bad.statusCode).toBe(502)
    expect(JSON.parse(bad.body)).toMatchObject({ error: 'temporarily_unavailable' })
    expect(JSON.parse(bad.body).error_description).toMatch(/not_json/)
    expect(JSON.parse((await proxy.lambdaHandler(req)).body).access_token).toBe('good')
  })

  it('should refuse bad requests with an OAuth error and never ask the upstream or write the store', async () => {
    const store: TokenStore = { ...memoryStore(), set: jest.fn(), acquireLease: jest.fn() }
    const { proxy } = setup({ store, encryption: false, maxBodyBytes: 64 })
    const cases: [LambdaHttpEvent, number, string][] = [
      [event('grant_type=client_credentials', {}, 'GET'), 405, 'invalid_request'],
      [event(`grant_type=client_credentials&scope=${'a'.repeat(100)}`), 400, 'invalid_request'],
      [event('scope=read'), 400, 'invalid_request'],
      [event('{"grant_type":', { headers: { 'content-type': 'application/json' } }), 400, 'invalid_request'],
    ]
    for (const [req, status, error] of cases) {
      const res = await proxy.lambdaHandler(req)
      expect([status, JSON.parse(res.body).error]).toEqual([res.statusCode, error])
    }
    for (const garbage of [null, 'x', 42, { version: '2.0' }, { httpMethod: 3 }]) {
      expect((await proxy.lambdaHandler(garbage)).statusCode).toBe(400)
    }
    expect((await proxy.lambdaHandler(event('', {}, 'GET'))).headers.allow).toBe('POST')
    expect(store.set).not.toHaveBeenCalled()
    expect(store.acquireLease).not.toHaveBeenCalled()
  })

  it('should forward other grants untouched and uncached, or refuse them', async () => {
    const body = 'grant_type=refresh_token&refresh_token=rt'
    nock(IDP).post('/oauth2/token', body).times(2).reply(200, tokenBody('refreshed'))
    const forwarding = setup().proxy
    const res = await forwarding.lambdaHandler(event(body))
    expect(res.headers['cache-status']).toBe('tokenstash; fwd=bypass')
    expect((await forwarding.lambdaHandler(event(body))).headers['cache-status']).toBe(
      'tokenstash; fwd=bypass',
    )
    const refusing = setup({ otherGrants: 'refuse' }).proxy
    const refused = await refusing.lambdaHandler(event(body))
    expect([refused.statusCode, JSON.parse(refused.body).error]).toEqual([400, 'unsupported_grant_type'])
  })

  it('should keep the secret and the token out of every event', async () => {
    const { proxy, events } = setup()
    nock(IDP)
      .post('/oauth2/token')
      .reply(401, { error: 'invalid_client', error_description: `bad secret ${SECRET}` })
      .post('/oauth2/token')
      .reply(200, tokenBody('tok-visible-only-to-client'))
    await proxy.lambdaHandler(event('grant_type=client_credentials'))
    await proxy.lambdaHandler(event('grant_type=client_credentials&scope=b'))
    const seen = JSON.stringify(events)
    expect(events.length).toBeGreaterThan(0)
    expect(seen).not.toContain(SECRET)
    expect(seen).not.toContain(BASIC.slice(6))
    expect(seen).not.toContain('tok-visible-only-to-client')
  })

  it('should report the store on /healthz, reachable or not', async () => {
    const failing: TokenStore = { ...memoryStore(), get: () => Promise.reject(new Error('down')) }
    const hanging: TokenStore = { ...memoryStore(), get: () => new Promise(() => undefined) }
    const health = { requestContext: { http: { method: 'GET' } }, version: '2.0', rawPath: '/healthz' }
    const answers = []
    for (const store of [undefined, memoryStore(), failing, hanging]) {
      const { proxy } = setup(store ? { store, encryption: false, storeTimeoutMs: 20 } : {})
      const res = await proxy.lambdaHandler(health)
      expect(res.statusCode).toBe(200)
      answers.push(JSON.parse(res.body).store)
    }
    expect(answers).toEqual(['none', 'reachable', 'unreachable', 'unreachable'])
  })

  it('should refuse bad options at construction, naming them', () => {
    const base = { upstream: UPSTREAM, hmacKey: randomBytes(32) }
    const bad: [Partial<TokenProxyOptions>, RegExp][] = [
      [{ upstream: 'http://idp.example.com/token' }, /`upstream`/],
      [{ upstream: 'https://user:pw@idp.example.com/token' }, /`upstream`/],
      [{ hmacKey: 'c2hvcnQ=' }, /`hmacKey`/],
      [{ hmacKey: randomBytes(16) }, /`hmacKey`/],
      [{ otherGrants: 'drop' as 'refuse' }, /`otherGrants`/],
      [{ maxBodyBytes: 0 }, /`maxBodyBytes`/],
      [{ refreshRatio: 1.5 }, /`refreshRatio`/],
      [{ store: memoryStore() }, /encryptionKey/],
    ]
    for (const [options, message] of bad) {
      expect(() => createTokenProxy({ ...base, ...options })).toThrow(ConfigError)
      expect(() => createTokenProxy({ ...base, ...options })).toThrow(message)
    }
    expect(() => createTokenProxy({ ...base, hmacKey: randomBytes(32).toString('base64url') })).not.toThrow()
  })
})
