import { attachToken, retryDelay } from '@tokenstash/axios'
import { createTokenProvider, type TokenProvider, TokenRejectedError } from '@tokenstash/core'
import axios, { type AxiosError, type AxiosInstance } from 'axios'
import { issuerSource } from './support/fleet'
import { startResourceServerFor } from './support/resource-server'
import { useServers } from './support/servers'
import { leaks, useTokenFreeRejections } from './support/sink'

// attachToken between a real OAuth2 server (oidc-provider, RS256 JWTs) and a real protected API
// that verifies every token through the issuer's JWKS. Token requests are counted by the issuer,
// API requests by the API; nothing here is mocked.

const FAST_RETRY = { retries: 0, minTimeoutMs: 10, maxTimeoutMs: 50 }
const NO_DELAY = { retryDelay: () => 0 }

describe('attachToken against a real OAuth2 server and a JWKS-verifying API', () => {
  const servers = useServers({
    issuer: { accessTokenTtlSeconds: 300 },
    api: { requiredScopes: { '/admin': 'admin' }, insufficientScopeStatus: 401 },
    sinks: ['other'],
    resetEach: true,
  })
  let provider: TokenProvider
  let client: AxiosInstance
  const tokenRequests = () => servers.issuer.tokenRequests()

  /** Every error a request rejects with must be free of every token the API saw in this file. */
  const rejected = useTokenFreeRejections<AxiosError>(() => servers.api.tokensSeen(), {
    tokens: 6,
    errors: 9,
  })

  beforeEach(() => {
    provider = createTokenProvider({
      // Configured the way `cognito()` configures it: form body, client_secret_basic, scopes.
      source: issuerSource(servers.issuer, {
        authMethod: 'client_secret_basic',
        bodyFormat: 'form',
        scope: ['read'],
      }),
      retry: FAST_RETRY,
    })
    client = axios.create({ baseURL: servers.api.url })
  })

  async function currentToken(): Promise<string> {
    return provider.getToken()
  }

  it('should attach a token the API verifies through the JWKS', async () => {
    attachToken(client, provider)
    const res = await client.get('/orders/1')
    expect(res.data).toMatchObject({
      ok: true,
      path: '/orders/1',
      sub: servers.issuer.clients.basic.clientId,
      scope: 'read',
    })
    await client.get('/orders/2')
    expect(servers.api.log().map((r) => r.verdict)).toEqual(['valid', 'valid'])
    expect(await tokenRequests()).toBe(1)
  })

  it('should get a 401 from the API without a token, proving the API checks', async () => {
    const error = await rejected(client.get('/orders/1'))
    expect(error.response?.status).toBe(401)
    expect(error.response?.headers['www-authenticate']).toBe('Bearer realm="tokenstash-test-api"')
  })

  it('should send no token to another origin named by an absolute URL, nor with tokenstash: false', async () => {
    attachToken(client, provider)
    await client.get(`${servers.sinks.other.url}/collect`)
    await client.get(`${servers.sinks.other.url}/collect`, { baseURL: servers.sinks.other.url })
    const error = await rejected(client.get('/orders/1', { tokenstash: false }))
    expect(error.response?.status).toBe(401)
    expect(servers.sinks.other.headers.map((h) => h.authorization)).toEqual([undefined, undefined])
    expect(await tokenRequests()).toBe(0)
  })

  it('should work with the default axios instance given origins', async () => {
    const eject = attachToken(axios, provider, { origins: [servers.api.url] })
    try {
      expect((await axios.get(`${servers.api.url}/orders/3`)).data.ok).toBe(true)
      await axios.get(`${servers.sinks.other.url}/x`)
      expect(servers.sinks.other.headers[0]?.authorization).toBeUndefined()
    } finally {
      eject()
    }
  })

  it('should refetch once and replay once when the API rejects the token (401 invalid_token)', async () => {
    attachToken(client, provider)
    const first = await currentToken()
    servers.api.reject(first)
    const res = await client.get('/orders/1')
    expect(res.status).toBe(200)
    expect(servers.api.log().map((r) => r.verdict)).toEqual(['revoked', 'valid'])
    expect(await tokenRequests()).toBe(2)
    expect(await currentToken()).not.toBe(first)
  })

  it('should cause one token request for a burst of concurrent 401s', async () => {
    attachToken(client, provider)
    const first = await currentToken()
    await servers.issuer.resetCounts()
    servers.api.reject(first)
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => client.get(`/orders/${i}`)))
    expect(results.every((r) => r.status === 200)).toBe(true)
    expect(await tokenRequests()).toBe(1)
    // Each request was sent once with the revoked token and replayed once with the new one.
    expect(servers.api.verdictCounts()).toEqual({ revoked: 12, valid: 12 })
  })

  it('should not loop when the next token is rejected too, and stop refetching after that', async () => {
    // An API that expects another audience rejects every token this client can get.
    const strict = await startResourceServerFor(servers.issuer, { audience: 'https://other.api.test' })
    try {
      const strictClient = axios.create({ baseURL: strict.url })
      attachToken(strictClient, provider)
      const error = await rejected(strictClient.get('/orders/1'))
      expect(error.response?.status).toBe(401)
      expect(strict.log().map((r) => r.verdict)).toEqual(['invalid', 'invalid'])
      expect(await tokenRequests()).toBe(2)
      // The replacement was rejected as well: the provider's loop guard refuses a third token.
      strict.reset()
      const again = await rejected(strictClient.get('/orders/1'))
      expect(again.response?.status).toBe(401)
      expect((again as { cause?: unknown }).cause).toBeInstanceOf(TokenRejectedError)
      expect(strict.requests()).toBe(1)
      expect(await tokenRequests()).toBe(2)
      for (const e of [error, again]) expect(leaks(e, strict.tokensSeen())).toEqual([])
    } finally {
      await strict.stop()
    }
  })

  it('should not replay a POST by default, but still drop the rejected token', async () => {
    attachToken(client, provider)
    servers.api.reject(await currentToken())
    const error = await rejected(client.post('/orders', { qty: 2 }))
    expect(error.response?.status).toBe(401)
    expect(servers.api.log().map((r) => `${r.method} ${r.verdict}`)).toEqual(['POST revoked'])
    // The rejected token was dropped all the same: the next POST goes out with a fresh one.
    expect((await client.post('/orders', { qty: 2 })).data).toMatchObject({
      method: 'POST',
      body: { qty: 2 },
    })
  })

  it('should replay a POST, body intact, when the request opts in', async () => {
    attachToken(client, provider)
    servers.api.reject(await currentToken())
    servers.api.reset()
    const res = await client.post('/orders', { qty: 3 }, { tokenstash: { retryOn401: true } })
    expect(res.data).toMatchObject({ method: 'POST', body: { qty: 3 } })
    expect(servers.api.log().map((r) => `${r.method} ${r.verdict}`)).toEqual(['POST revoked', 'POST valid'])
  })

  it('should not treat a 401 insufficient_scope as an expired token', async () => {
    attachToken(client, provider)
    const error = await rejected(client.get('/admin/users'))
    expect(error.response?.status).toBe(401)
    expect(error.response?.headers['www-authenticate']).toContain('error="insufficient_scope"')
    expect(servers.api.requests()).toBe(1)
    expect(await tokenRequests()).toBe(1)
  })

  it('should retry a 503 with Retry-After after waiting for it, with a valid token', async () => {
    const delays: number[] = []
    attachToken(client, provider, {
      retry: {
        retryDelay: (n, e) => {
          const ms = retryDelay(n, e)
          delays.push(ms)
          return ms
        },
      },
    })
    servers.api.failNext(1, { status: 503, retryAfterSeconds: 1 })
    const res = await client.get('/orders/1')
    expect(res.status).toBe(200)
    expect(delays).toHaveLength(1)
    expect(delays[0]).toBeGreaterThanOrEqual(1_000)
    expect(servers.api.log().map((r) => r.verdict)).toEqual(['failure-injected', 'valid'])
  })

  it('should retry a dropped connection for GET, and not for POST', async () => {
    attachToken(client, provider, { retry: NO_DELAY })
    servers.api.failNext(1, { destroy: true })
    expect((await client.get('/orders/1')).status).toBe(200)
    servers.api.failNext(1, { destroy: true })
    const error = await rejected(client.post('/orders', { qty: 1 }))
    expect(error.code).toBe('ECONNRESET')
    expect(servers.api.log().map((r) => `${r.method} ${r.verdict}`)).toEqual([
      'GET failure-injected',
      'GET valid',
      'POST failure-injected',
    ])
  })

  it('should give up after the retries and reject with the last 503', async () => {
    attachToken(client, provider, { retry: { ...NO_DELAY, retries: 2 } })
    servers.api.failNext(3, { status: 503 })
    const error = await rejected(client.get('/orders/1'))
    expect(error.response?.status).toBe(503)
    expect(servers.api.requests()).toBe(3)
  })

  it('should compose a replay after 401 with a retry after 503, each attempt with a valid token', async () => {
    attachToken(client, provider, { retry: NO_DELAY })
    servers.api.reject(await currentToken())
    servers.api.failNext(1, { status: 503 })
    await servers.issuer.resetCounts()
    // 503 first (injected), then the revoked token's 401, then the replay with a new token.
    expect((await client.get('/orders/1')).status).toBe(200)
    expect(servers.api.log().map((r) => r.verdict)).toEqual(['failure-injected', 'revoked', 'valid'])
    expect(await tokenRequests()).toBe(1)
  })

  it('should redact errors of timeouts and of a refused connection', async () => {
    // Port 1 (tcpmux): nothing listens there, and no test can take it as its free port. A port freed
    // by a closed server could be taken at once by another process beside this run (two CI runs on
    // one machine reset the connection, and the socket's second error escaped the request).
    const gone = axios.create({ baseURL: 'http://127.0.0.1:1' })
    attachToken(gone, provider, { retry: false })
    const refused = await rejected(gone.get('/x'))
    expect(refused.code).toBe('ECONNREFUSED')
    expect(refused.config?.headers.Authorization).toBe('[REDACTED]')

    attachToken(client, provider, { retry: false })
    servers.api.failNext(1, { status: 200, delayMs: 400 })
    const slow = await rejected(client.get('/orders/1', { timeout: 50 }))
    expect(slow.code).toBe('ECONNABORTED')
    expect(slow.config?.headers.Authorization).toBe('[REDACTED]')
  })
})
