import { generateKeyPairSync } from 'node:crypto'
import { clientCredentials, DiscoveryError, type SourceEvent, TokenEndpointError } from '@tokenstash/core'
import { jwtVerify } from 'jose'
import nock from 'nock'
import { rejectionOf } from '../../../test/support/rejection'
import { discoveryUrls } from '../src/sources/discovery'

const ISSUER = 'https://idp.example.com'
const TOKEN_ENDPOINT = 'https://idp.example.com/oauth2/token'
const SECRET = 'discovery-test-secret-value'
const OK = { access_token: 'opaque-access-token', token_type: 'Bearer', expires_in: 3600 }

const metadata = (extra: Record<string, unknown> = {}) => ({
  issuer: ISSUER,
  token_endpoint: TOKEN_ENDPOINT,
  jwks_uri: `${ISSUER}/jwks`,
  ...extra,
})

const source = (extra: Record<string, unknown> = {}) =>
  clientCredentials({ issuer: ISSUER, clientId: 'orders-service', clientSecret: SECRET, ...extra })

beforeAll(() => nock.disableNetConnect())
afterEach(() => nock.cleanAll())
afterAll(() => nock.enableNetConnect())

describe('discoveryUrls', () => {
  it('should build the OpenID and RFC 8414 URLs, with the issuer path after the well-known part', () => {
    expect(discoveryUrls(new URL('https://idp.example.com'))).toEqual([
      'https://idp.example.com/.well-known/openid-configuration',
      'https://idp.example.com/.well-known/oauth-authorization-server',
    ])
    expect(discoveryUrls(new URL('https://idp.example.com/tenants/acme/'))).toEqual([
      'https://idp.example.com/tenants/acme/.well-known/openid-configuration',
      'https://idp.example.com/.well-known/oauth-authorization-server/tenants/acme',
    ])
  })
})

describe('clientCredentials with an issuer', () => {
  it('should discover the token endpoint and ask it for a token', async () => {
    const idp = nock(ISSUER)
      .get('/.well-known/openid-configuration')
      .reply(200, metadata())
      .post('/oauth2/token', 'grant_type=client_credentials')
      .reply(200, OK)
    const set = await source().fetchToken()
    expect(set.accessToken).toBe('opaque-access-token')
    expect(idp.isDone()).toBe(true)
  })

  it('should fall back to RFC 8414 metadata on a 404', async () => {
    const issuer = 'https://idp.example.com/tenants/acme'
    const idp = nock(ISSUER)
      .get('/tenants/acme/.well-known/openid-configuration')
      .reply(404, 'Not Found')
      .get('/.well-known/oauth-authorization-server/tenants/acme')
      .reply(200, { issuer, token_endpoint: 'https://idp.example.com/tenants/acme/token' })
      .post('/tenants/acme/token')
      .reply(200, OK)
    await clientCredentials({ issuer, clientId: 'c', clientSecret: SECRET }).fetchToken()
    expect(idp.isDone()).toBe(true)
  })

  it('should accept an issuer that differs only by a trailing slash', async () => {
    nock(ISSUER)
      .get('/.well-known/openid-configuration')
      .reply(200, metadata({ issuer: `${ISSUER}/` }))
      .post('/oauth2/token')
      .reply(200, OK)
    await expect(source({ issuer: `${ISSUER}/` }).fetchToken()).resolves.toMatchObject({
      tokenType: 'Bearer',
    })
  })

  it('should refuse metadata that names another issuer', async () => {
    const token = nock(ISSUER).post('/oauth2/token').reply(200, OK)
    nock(ISSUER)
      .get('/.well-known/openid-configuration')
      .reply(200, metadata({ issuer: 'https://evil.example.com' }))
    const err = (await rejectionOf(source().fetchToken())) as DiscoveryError
    expect(err).toBeInstanceOf(DiscoveryError)
    expect(err.code).toBe('ERR_DISCOVERY')
    expect(err.issuer).toBe(ISSUER)
    expect(err.message).toContain('names issuer "https://evil.example.com"')
    expect(token.isDone()).toBe(false)
  })

  it.each([
    [
      'an http token endpoint on a public host',
      { token_endpoint: 'http://idp.example.com/token' },
      'token_endpoint',
    ],
    ['no token endpoint', { token_endpoint: undefined }, 'token_endpoint'],
    ['a relative token endpoint', { token_endpoint: '/token' }, 'token_endpoint'],
  ])('should refuse metadata with %s', async (_what, patch, message) => {
    nock(ISSUER).get('/.well-known/openid-configuration').reply(200, metadata(patch))
    const err = await rejectionOf(source().fetchToken())
    expect(err).toBeInstanceOf(DiscoveryError)
    expect(err.message).toContain(message)
  })

  it('should refuse metadata that is not a JSON object', async () => {
    nock(ISSUER).get('/.well-known/openid-configuration').reply(200, '<html>login</html>')
    expect(await rejectionOf(source().fetchToken())).toBeInstanceOf(DiscoveryError)
    nock(ISSUER).get('/.well-known/openid-configuration').reply(200, '["x"]')
    expect(await rejectionOf(source().fetchToken())).toBeInstanceOf(DiscoveryError)
  })

  it('should fail with a DiscoveryError when both documents are missing', async () => {
    nock(ISSUER)
      .get('/.well-known/openid-configuration')
      .reply(404)
      .get('/.well-known/oauth-authorization-server')
      .reply(404)
    const err = await rejectionOf(source().fetchToken())
    expect(err).toBeInstanceOf(DiscoveryError)
    expect(err.message).toContain('answered 404')
    expect(err.message).toContain('pass `tokenEndpoint` instead')
    expect(err.message).not.toContain(SECRET)
  })

  it('should not fall back on errors other than 404', async () => {
    const fallback = nock(ISSUER).get('/.well-known/oauth-authorization-server').reply(200, metadata())
    nock(ISSUER).get('/.well-known/openid-configuration').reply(500)
    expect(await rejectionOf(source().fetchToken())).toBeInstanceOf(DiscoveryError)
    expect(fallback.isDone()).toBe(false)
  })

  it('should wrap a network failure with its cause', async () => {
    nock(ISSUER)
      .get('/.well-known/openid-configuration')
      .replyWithError({ code: 'ECONNREFUSED', message: 'refused' })
    const err = await rejectionOf(source().fetchToken())
    expect(err).toBeInstanceOf(DiscoveryError)
    expect(err.cause).toBeDefined()
  })

  it('should time out a discovery that hangs', async () => {
    const hang: typeof fetch = (_input, init) =>
      new Promise((_resolve, reject) => {
        const signal = init!.signal!
        if (signal.aborted) return reject(signal.reason)
        signal.addEventListener('abort', () => reject(signal.reason))
      })
    const err = await rejectionOf(source({ fetch: hang, timeoutMs: 20 }).fetchToken())
    expect(err).toBeInstanceOf(DiscoveryError)
    expect(err.message).toContain('timed out after 20 ms')
  })

  it('should discover once and reuse the result', async () => {
    const idp = nock(ISSUER)
      .get('/.well-known/openid-configuration')
      .once()
      .reply(200, metadata())
      .post('/oauth2/token')
      .times(2)
      .reply(200, OK)
    const s = source()
    await s.fetchToken()
    await s.fetchToken()
    expect(idp.isDone()).toBe(true)
  })

  it('should share one in-flight discovery between concurrent callers', async () => {
    let discoveries = 0
    nock(ISSUER)
      .get('/.well-known/openid-configuration')
      .times(5)
      .reply(() => {
        discoveries += 1
        return [200, metadata()]
      })
      .post('/oauth2/token')
      .times(5)
      .reply(200, OK)
    const s = source()
    const sets = await Promise.all(Array.from({ length: 5 }, () => s.fetchToken()))
    expect(sets).toHaveLength(5)
    expect(discoveries).toBe(1)
  })

  it.each([
    [500, true],
    [502, true],
    [503, true],
    [429, true],
    [408, true],
    [403, false],
    [401, false],
  ])('should mark a discovery answered %i as retryable: %s', async (status, retryable) => {
    nock(ISSUER).get('/.well-known/openid-configuration').reply(status)
    const err = (await rejectionOf(source().fetchToken())) as DiscoveryError
    expect(err).toBeInstanceOf(DiscoveryError)
    expect(err.status).toBe(status)
    expect(err.retryable).toBe(retryable)
  })

  it('should mark network failures and timeouts as retryable, and bad metadata as not', async () => {
    nock(ISSUER)
      .get('/.well-known/openid-configuration')
      .replyWithError({ code: 'ECONNRESET', message: 'reset' })
    const network = (await rejectionOf(source().fetchToken())) as DiscoveryError
    expect(network.retryable).toBe(true)
    expect(network.status).toBeUndefined()
    nock(ISSUER).get('/.well-known/openid-configuration').reply(200, '<html>login</html>')
    const html = (await rejectionOf(source().fetchToken())) as DiscoveryError
    expect(html.retryable).toBe(false)
    expect(html.status).toBe(200)
    nock(ISSUER)
      .get('/.well-known/openid-configuration')
      .reply(404)
      .get('/.well-known/oauth-authorization-server')
      .reply(404)
    expect(((await rejectionOf(source().fetchToken())) as DiscoveryError).retryable).toBe(false)
  })

  it('should not cache a failed discovery', async () => {
    nock(ISSUER)
      .get('/.well-known/openid-configuration')
      .reply(503)
      .get('/.well-known/openid-configuration')
      .reply(200, metadata())
      .post('/oauth2/token')
      .reply(200, OK)
    const s = source()
    expect(await rejectionOf(s.fetchToken())).toBeInstanceOf(DiscoveryError)
    await expect(s.fetchToken()).resolves.toMatchObject({ accessToken: 'opaque-access-token' })
  })

  it("should let one caller give up without failing the others' shared discovery", async () => {
    let release!: () => void
    const gate = new Promise<void>((resolve) => {
      release = resolve
    })
    const gated: typeof fetch = async (input, init) => {
      if (String(input).includes('.well-known')) await gate
      return globalThis.fetch(input, init)
    }
    nock(ISSUER)
      .get('/.well-known/openid-configuration')
      .reply(200, metadata())
      .post('/oauth2/token')
      .reply(200, OK)
    const s = source({ fetch: gated })
    const controller = new AbortController()
    const reason = new Error('first caller gave up')
    const first = s.fetchToken(controller.signal)
    const second = s.fetchToken()
    controller.abort(reason)
    await expect(first).rejects.toBe(reason)
    release()
    await expect(second).resolves.toMatchObject({ accessToken: 'opaque-access-token' })
  })

  it('should pick an auth method the server lists when the default is not listed', async () => {
    let body: unknown
    let authorization: unknown
    nock(ISSUER)
      .get('/.well-known/openid-configuration')
      .reply(
        200,
        metadata({ token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt'] }),
      )
      .post('/oauth2/token')
      .reply(function (_uri, requestBody) {
        body = requestBody
        authorization = this.req.headers.authorization
        return [200, OK]
      })
    await source().fetchToken()
    expect(authorization).toBeUndefined()
    expect(new URLSearchParams(body as string).get('client_secret')).toBe(SECRET)
  })

  it('should keep an explicit auth method whatever the server lists', async () => {
    let authorization: unknown
    nock(ISSUER)
      .get('/.well-known/openid-configuration')
      .reply(200, metadata({ token_endpoint_auth_methods_supported: ['client_secret_post'] }))
      .post('/oauth2/token')
      .reply(function () {
        authorization = this.req.headers.authorization
        return [200, OK]
      })
    await source({ authMethod: 'client_secret_basic' }).fetchToken()
    expect(String(authorization)).toMatch(/^Basic /)
  })

  it('should fall back to client_secret_basic, and say so, when the server lists no method for a secret', async () => {
    let authorization: unknown
    nock(ISSUER)
      .get('/.well-known/openid-configuration')
      .reply(200, metadata({ token_endpoint_auth_methods_supported: ['private_key_jwt', 'tls_client_auth'] }))
      .post('/oauth2/token')
      .times(2)
      .reply(function () {
        authorization = this.req.headers.authorization
        return [200, OK]
      })
    const s = source()
    const events: SourceEvent[] = []
    s.subscribe?.((e) => events.push(e))
    await s.fetchToken()
    await s.fetchToken()
    expect(String(authorization)).toMatch(/^Basic /)
    expect(events).toEqual([
      {
        type: 'auth-method-fallback',
        authMethod: 'client_secret_basic',
        message: expect.stringContaining('"private_key_jwt","tls_client_auth"'),
      },
    ])
    expect(events[0]?.message).toContain('Set `authMethod`')
    expect(JSON.stringify(events)).not.toContain(SECRET)
  })

  it('should refuse a client with only a private key when the server does not list private_key_jwt, and say what to pass', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    nock(ISSUER)
      .get('/.well-known/openid-configuration')
      .reply(200, metadata({ token_endpoint_auth_methods_supported: ['client_secret_basic'] }))
    const err = await rejectionOf(
      clientCredentials({ issuer: ISSUER, clientId: 'orders-service', privateKey }).fetchToken(),
    )
    expect(err).toBeInstanceOf(DiscoveryError)
    expect(err.message).toContain('lists client authentication by client_secret_basic')
    expect(err.message).toContain("`authMethod: 'private_key_jwt'`")
  })

  it('should keep listeners apart: one that throws does not stop the others, and an unsubscribed one hears nothing', async () => {
    nock(ISSUER)
      .get('/.well-known/openid-configuration')
      .reply(200, metadata({ token_endpoint_auth_methods_supported: ['none'] }))
      .post('/oauth2/token')
      .reply(200, OK)
    const s = source()
    const heard: string[] = []
    s.subscribe?.(() => {
      throw new Error('listener bug')
    })
    const off = s.subscribe?.(() => heard.push('removed'))
    s.subscribe?.((e) => heard.push(e.type))
    off?.()
    await s.fetchToken()
    expect(heard).toEqual(['auth-method-fallback'])
  })

  it('should use the discovered token endpoint as the aud of a private_key_jwt assertion', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const discovered = 'https://tokens.example.com/v2/token'
    let assertion = ''
    nock(ISSUER)
      .get('/.well-known/openid-configuration')
      .reply(200, metadata({ token_endpoint: discovered }))
    nock('https://tokens.example.com')
      .post('/v2/token')
      .reply((_uri, body) => {
        assertion = new URLSearchParams(body as string).get('client_assertion')!
        return [200, OK]
      })
    await clientCredentials({ issuer: ISSUER, clientId: 'orders-service', privateKey }).fetchToken()
    const { payload } = await jwtVerify(assertion, publicKey, {
      audience: discovered,
      issuer: 'orders-service',
    })
    expect(payload.sub).toBe('orders-service')
  })

  it('should map token endpoint errors after discovery like any other', async () => {
    nock(ISSUER)
      .get('/.well-known/openid-configuration')
      .reply(200, metadata())
      .post('/oauth2/token')
      .reply(400, { error: 'invalid_scope' })
    const err = (await rejectionOf(source({ scope: 'nope' }).fetchToken())) as TokenEndpointError
    expect(err).toBeInstanceOf(TokenEndpointError)
    expect(err.endpoint).toBe(TOKEN_ENDPOINT)
    expect(err.error).toBe('invalid_scope')
    expect(err.retryable).toBe(false)
  })

  it('should have an id that names the issuer, not a discovered endpoint', () => {
    const a = source()
    const b = source({ issuer: 'https://other.example.com' })
    expect(a.id).toContain(ISSUER)
    expect(a.id).not.toBe(b.id)
    expect(a.id).not.toBe(
      clientCredentials({ tokenEndpoint: TOKEN_ENDPOINT, clientId: 'orders-service', clientSecret: SECRET })
        .id,
    )
    expect(a.id).not.toContain(SECRET)
  })
})
