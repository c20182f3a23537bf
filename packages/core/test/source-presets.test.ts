import { inspect } from 'node:util'
import { auth0, ConfigError, cognito, TokenEndpointError } from '@tokenstash/core'
import nock from 'nock'
import { rejectionOf } from '../../../test/support/rejection'

const T0 = 1_800_000_000_000
const AUTH0_SECRET = 'auth0-secret-7fJ2kQ9xZr'
const COGNITO_SECRET = 'cognito1secret2value3abcdefghijklmnop'
const JWT_LIKE = 'eyJz93a.k4laUWw' // Auth0's documented sample is not a full JWT; it must work as opaque.

function expectNoSecret(err: Error, secret: string) {
  for (const text of [err.message, JSON.stringify(err), inspect(err, { depth: 10 })])
    expect(text).not.toContain(secret)
}

beforeAll(() => nock.disableNetConnect())
afterEach(() => nock.cleanAll())
afterAll(() => nock.enableNetConnect())

/**
 * Asserts that `preset` gives `options` and each of `patches` on top of them its own id, and that
 * no id holds `secret`; returns the ids, those of `options` first.
 */
function expectOwnIds<O extends object>(
  secret: string,
  preset: (options: O) => { id: string },
  options: NoInfer<O>,
  patches: NoInfer<Partial<O>>[],
): string[] {
  const ids = [options, ...patches.map((patch) => ({ ...options, ...patch }))].map((o) => preset(o).id)
  expect(new Set(ids).size).toBe(ids.length)
  for (const id of ids) expect(id).not.toContain(secret)
  return ids
}

describe('auth0', () => {
  const options = {
    domain: 'acme.eu.auth0.com',
    clientId: 'abc123ClientId',
    clientSecret: AUTH0_SECRET,
    audience: 'https://orders.acme.com',
    now: () => T0,
  }

  it('should POST the documented JSON body to /oauth/token and read the documented response', async () => {
    let seen: { headers: Record<string, unknown>; body: unknown } | undefined
    nock('https://acme.eu.auth0.com')
      .post('/oauth/token')
      .reply(function (_uri, body) {
        seen = { headers: this.req.headers, body }
        return [200, { access_token: JWT_LIKE, token_type: 'Bearer', expires_in: 86400 }]
      })
    const set = await auth0(options).fetchToken()
    expect(set).toEqual({
      accessToken: JWT_LIKE,
      tokenType: 'Bearer',
      issuedAt: T0,
      expiresAt: T0 + 86_400_000,
    })
    expect(seen!.headers['content-type']).toBe('application/json')
    expect(seen!.headers.authorization).toBeUndefined()
    expect(seen!.body).toEqual({
      grant_type: 'client_credentials',
      client_id: 'abc123ClientId',
      client_secret: AUTH0_SECRET,
      audience: 'https://orders.acme.com',
    })
  })

  it('should send scope when given', async () => {
    let body: unknown
    nock('https://acme.eu.auth0.com')
      .post('/oauth/token')
      .reply((_uri, b) => {
        body = b
        return [200, { access_token: 'x', token_type: 'Bearer', expires_in: 86400, scope: 'read:orders' }]
      })
    const set = await auth0({ ...options, scope: ['write:orders', 'read:orders'] }).fetchToken()
    expect((body as Record<string, unknown>).scope).toBe('read:orders write:orders')
    expect(set.scope).toBe('read:orders')
  })

  it.each([
    ['a custom domain', 'login.acme.com', 'https://login.acme.com'],
    ['an https URL', 'https://acme.us.auth0.com/', 'https://acme.us.auth0.com'],
  ])('should accept %s', async (_what, domain, origin) => {
    const scope = nock(origin)
      .post('/oauth/token')
      .reply(200, { access_token: 'x', token_type: 'Bearer', expires_in: 60 })
    await auth0({ ...options, domain }).fetchToken()
    expect(scope.isDone()).toBe(true)
  })

  it('should fail fast on the documented 401 access_denied', async () => {
    nock('https://acme.eu.auth0.com')
      .post('/oauth/token')
      .reply(401, { error: 'access_denied', error_description: 'Unauthorized' })
    const err = await rejectionOf<TokenEndpointError>(auth0(options).fetchToken())
    expect(err).toBeInstanceOf(TokenEndpointError)
    expect(err.status).toBe(401)
    expect(err.error).toBe('access_denied')
    expect(err.errorDescription).toBe('Unauthorized')
    expect(err.retryable).toBe(false)
    expect(err.message).toContain(
      'https://acme.eu.auth0.com/oauth/token answered 401 access_denied: Unauthorized',
    )
    expectNoSecret(err, AUTH0_SECRET)
  })

  it('should fail fast when the client is not authorized for the API (403)', async () => {
    const description =
      'Client is not authorized to access "https://orders.acme.com". You need to create a "client-grant" associated to this API.'
    nock('https://acme.eu.auth0.com')
      .post('/oauth/token')
      .reply(403, { error: 'access_denied', error_description: description })
    const err = await rejectionOf<TokenEndpointError>(auth0(options).fetchToken())
    expect(err.retryable).toBe(false)
    expect(err.errorDescription).toBe(description)
    expect(err.message).toContain('authorize the application for the API')
  })

  it('should retry a 429 after x-ratelimit-reset', async () => {
    nock('https://acme.eu.auth0.com')
      .post('/oauth/token')
      .reply(
        429,
        { error: 'too_many_requests', error_description: 'Global limit has been reached' },
        {
          'x-ratelimit-limit': '30',
          'x-ratelimit-remaining': '0',
          'x-ratelimit-reset': String(T0 / 1000 + 5),
        },
      )
    const err = await rejectionOf<TokenEndpointError>(auth0(options).fetchToken())
    expect(err.status).toBe(429)
    expect(err.retryable).toBe(true)
    expect(err.retryAfterMs).toBe(5_000)
  })

  it('should give every domain, client, audience and scope its own id, without the secret', () => {
    const id = auth0(options).id
    expect(auth0({ ...options, domain: 'https://acme.eu.auth0.com' }).id).toBe(id)
    expect(auth0({ ...options, clientSecret: 'rotated' }).id).toBe(id)
    expectOwnIds(AUTH0_SECRET, auth0, options, [
      { domain: 'other.eu.auth0.com' },
      { clientId: 'otherClient' },
      { audience: 'https://billing.acme.com' },
      { scope: 'read:orders' },
    ])
  })

  it.each([
    ['a missing audience', { audience: undefined }, '`audience`'],
    ['a missing secret', { clientSecret: undefined }, '`clientSecret`'],
    ['a domain with a path', { domain: 'acme.eu.auth0.com/oauth/token' }, 'without a path'],
    ['an http domain', { domain: 'http://acme.eu.auth0.com' }, 'http is allowed on loopback only'],
    ['an empty domain', { domain: '' }, '`domain`'],
  ])('should refuse %s with a ConfigError naming the option', (_what, patch, message) => {
    expect(() => auth0({ ...options, ...patch } as never)).toThrow(ConfigError)
    expect(() => auth0({ ...options, ...patch } as never)).toThrow(message)
  })
})

describe('cognito', () => {
  const domain = 'acme-pool.auth.eu-west-1.amazoncognito.com'
  const options = { domain, clientId: '1example23456789', clientSecret: COGNITO_SECRET, now: () => T0 }

  it('should POST the documented form body with Basic credentials to /oauth2/token', async () => {
    let seen: { headers: Record<string, unknown>; body: unknown } | undefined
    nock(`https://${domain}`)
      .post('/oauth2/token')
      .reply(function (_uri, body) {
        seen = { headers: this.req.headers, body }
        return [200, { access_token: 'eyJra1example', expires_in: 3600, token_type: 'Bearer' }]
      })
    const set = await cognito({ ...options, scopes: ['orders/write', 'orders/read'] }).fetchToken()
    expect(set).toEqual({
      accessToken: 'eyJra1example',
      tokenType: 'Bearer',
      issuedAt: T0,
      expiresAt: T0 + 3_600_000,
    })
    expect(seen!.headers['content-type']).toBe('application/x-www-form-urlencoded')
    expect(seen!.headers.authorization).toBe(
      `Basic ${Buffer.from(`1example23456789:${COGNITO_SECRET}`).toString('base64')}`,
    )
    expect(seen!.body).toBe('grant_type=client_credentials&scope=orders%2Fread+orders%2Fwrite')
  })

  it('should send no scope when none is given', async () => {
    let body: unknown
    nock(`https://${domain}`)
      .post('/oauth2/token')
      .reply((_uri, b) => {
        body = b
        return [200, { access_token: 'x', expires_in: 3600, token_type: 'Bearer' }]
      })
    await cognito(options).fetchToken()
    expect(body).toBe('grant_type=client_credentials')
  })

  it.each([
    ['invalid_client', 'Check the client id'],
    ['unauthorized_client', 'client_credentials grant'],
    ['invalid_scope', 'Check `scope`'],
  ])('should fail fast on the documented 400 %s', async (error, advice) => {
    nock(`https://${domain}`).post('/oauth2/token').reply(400, { error })
    const err = await rejectionOf<TokenEndpointError>(cognito(options).fetchToken())
    expect(err).toBeInstanceOf(TokenEndpointError)
    expect(err.status).toBe(400)
    expect(err.error).toBe(error)
    expect(err.retryable).toBe(false)
    expect(err.message).toContain(`https://${domain}/oauth2/token answered 400 ${error}`)
    expect(err.message).toContain(advice)
    expectNoSecret(err, COGNITO_SECRET)
  })

  it('should retry a 429 from the rate-limited endpoint', async () => {
    nock(`https://${domain}`).post('/oauth2/token').reply(429, { message: 'Rate exceeded' })
    const err = await rejectionOf<TokenEndpointError>(cognito(options).fetchToken())
    expect(err.status).toBe(429)
    expect(err.retryable).toBe(true)
    expect(err.retryAfterMs).toBeUndefined()
  })

  it('should accept a custom domain and an https URL', async () => {
    const custom = nock('https://auth.acme.com')
      .post('/oauth2/token')
      .reply(200, { access_token: 'x', expires_in: 60 })
    await cognito({ ...options, domain: 'auth.acme.com' }).fetchToken()
    expect(custom.isDone()).toBe(true)
    expect(cognito({ ...options, domain: `https://${domain}` }).id).toBe(cognito(options).id)
  })

  it('should give every domain, client and scope set its own id, without the secret', () => {
    const ids = expectOwnIds(COGNITO_SECRET, cognito, options, [
      { domain: 'other.auth.eu-west-1.amazoncognito.com' },
      { clientId: '2example' },
      { scopes: 'orders/read' },
      { scopes: 'orders/read orders/write' },
    ])
    expect(cognito({ ...options, scopes: ['orders/write', 'orders/read'] }).id).toBe(ids[4])
    expect(ids[0]).not.toBe(auth0({ ...options, audience: 'x' }).id)
  })

  it.each([
    ['numeric scopes', { scopes: 42 }, 'Expected `scopes` to be a string or an array of strings'],
    ['a missing clientId', { clientId: undefined }, '`clientId`'],
    ['a missing secret', { clientSecret: undefined }, '`clientSecret`'],
    ['a domain with a query', { domain: `https://${domain}/?x=1` }, 'without a path'],
  ])('should refuse %s with a ConfigError naming the option', (_what, patch, message) => {
    expect(() => cognito({ ...options, ...patch } as never)).toThrow(ConfigError)
    expect(() => cognito({ ...options, ...patch } as never)).toThrow(message)
  })
})
