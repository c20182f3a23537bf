import { attachToken, retryDelay } from '@tokenstash/axios'
import {
  clientCredentials,
  createTokenProvider,
  type TokenProvider,
  TokenRejectedError,
} from '@tokenstash/core'
import axios, { type AxiosError, type AxiosInstance } from 'axios'
import nock from 'nock'
import { type Issuer, startIssuer } from './support/issuer'
import { type ResourceServer, startResourceServer } from './support/resource-server'
import { leaks, type Sink, startSink } from './support/sink'

// attachToken between a real OAuth2 server (oidc-provider, RS256 JWTs) and a real protected API
// that verifies every token through the issuer's JWKS. Token requests are counted by the issuer,
// API requests by the API; nothing here is mocked.

const FAST_RETRY = { retries: 0, minTimeoutMs: 10, maxTimeoutMs: 50 }
const NO_DELAY = { retryDelay: () => 0 }

async function failure(promise: Promise<unknown>): Promise<AxiosError> {
  try {
    await promise
  } catch (error) {
    return error as AxiosError
  }
  throw new Error('expected the request to fail')
}

describe('attachToken against a real OAuth2 server and a JWKS-verifying API', () => {
  let issuer: Issuer
  let api: ResourceServer
  let sink: Sink
  let provider: TokenProvider
  let client: AxiosInstance
  /** Every error a request rejected with in this file: each must be free of every token. */
  const thrown: unknown[] = []

  const tokenRequests = () => issuer.tokenRequests()

  async function rejected(promise: Promise<unknown>): Promise<AxiosError> {
    const error = await failure(promise)
    thrown.push(error)
    expect(leaks(error, api.tokensSeen())).toEqual([])
    return error
  }

  beforeAll(async () => {
    nock.disableNetConnect()
    nock.enableNetConnect('127.0.0.1')
    issuer = await startIssuer({ accessTokenTtlSeconds: 300 })
    api = await startResourceServer({
      issuer: issuer.issuer,
      jwksUri: issuer.jwksUri,
      audience: issuer.audience,
      requiredScopes: { '/admin': 'admin' },
      insufficientScopeStatus: 401,
    })
    sink = await startSink()
  })

  afterAll(async () => {
    // Checked again at the end: the errors of every test above, against every token the API saw
    // in this file (including tokens sent after an error was thrown).
    const tokens = api.tokensSeen()
    expect(tokens.length).toBeGreaterThan(5)
    expect(thrown.length).toBeGreaterThan(8)
    for (const error of thrown) expect(leaks(error, tokens)).toEqual([])
    await api?.stop()
    await sink?.stop()
    await issuer?.stop()
    nock.enableNetConnect()
  })

  beforeEach(async () => {
    await issuer.clearFailures()
    await issuer.resetCounts()
    api.reset()
    sink.headers.length = 0
    const { clientId, clientSecret } = issuer.clients.basic
    provider = createTokenProvider({
      // Configured the way `cognito()` configures it: form body, client_secret_basic, scopes.
      source: clientCredentials({
        tokenEndpoint: issuer.tokenEndpoint,
        clientId,
        clientSecret,
        authMethod: 'client_secret_basic',
        bodyFormat: 'form',
        scope: ['read'],
      }),
      retry: FAST_RETRY,
    })
    client = axios.create({ baseURL: api.url })
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
      sub: issuer.clients.basic.clientId,
      scope: 'read',
    })
    await client.get('/orders/2')
    expect(api.log().map((r) => r.verdict)).toEqual(['valid', 'valid'])
    expect(await tokenRequests()).toBe(1)
  })

  it('should get a 401 from the API without a token, proving the API checks', async () => {
    const error = await rejected(client.get('/orders/1'))
    expect(error.response?.status).toBe(401)
    expect(error.response?.headers['www-authenticate']).toBe('Bearer realm="tokenstash-test-api"')
  })

  it('should send no token to another origin named by an absolute URL, nor with tokenstash: false', async () => {
    attachToken(client, provider)
    await client.get(`${sink.url}/collect`)
    await client.get(`${sink.url}/collect`, { baseURL: sink.url })
    const error = await rejected(client.get('/orders/1', { tokenstash: false }))
    expect(error.response?.status).toBe(401)
    expect(sink.headers.map((h) => h.authorization)).toEqual([undefined, undefined])
    expect(await tokenRequests()).toBe(0)
  })

  it('should work with the default axios instance given origins', async () => {
    const eject = attachToken(axios, provider, { origins: [api.url] })
    try {
      expect((await axios.get(`${api.url}/orders/3`)).data.ok).toBe(true)
      await axios.get(`${sink.url}/x`)
      expect(sink.headers[0]?.authorization).toBeUndefined()
    } finally {
      eject()
    }
  })

  it('should refetch once and replay once when the API rejects the token (401 invalid_token)', async () => {
    attachToken(client, provider)
    const first = await currentToken()
    api.reject(first)
    const res = await client.get('/orders/1')
    expect(res.status).toBe(200)
    expect(api.log().map((r) => r.verdict)).toEqual(['revoked', 'valid'])
    expect(await tokenRequests()).toBe(2)
    expect(await currentToken()).not.toBe(first)
  })

  it('should cause one token request for a burst of concurrent 401s', async () => {
    attachToken(client, provider)
    const first = await currentToken()
    await issuer.resetCounts()
    api.reject(first)
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => client.get(`/orders/${i}`)))
    expect(results.every((r) => r.status === 200)).toBe(true)
    expect(await tokenRequests()).toBe(1)
    const verdicts = api.log().map((r) => r.verdict)
    expect(verdicts.filter((v) => v === 'revoked')).toHaveLength(12)
    expect(verdicts.filter((v) => v === 'valid')).toHaveLength(12)
  })

  it('should not loop when the next token is rejected too, and stop refetching after that', async () => {
    // An API that expects another audience rejects every token this client can get.
    const strict = await startResourceServer({
      issuer: issuer.issuer,
      jwksUri: issuer.jwksUri,
      audience: 'https://other.api.test',
    })
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
    api.reject(await currentToken())
    const error = await rejected(client.post('/orders', { qty: 2 }))
    expect(error.response?.status).toBe(401)
    expect(api.log().map((r) => `${r.method} ${r.verdict}`)).toEqual(['POST revoked'])
    // The rejected token was dropped all the same: the next POST goes out with a fresh one.
    expect((await client.post('/orders', { qty: 2 })).data).toMatchObject({
      method: 'POST',
      body: { qty: 2 },
    })
  })

  it('should replay a POST, body intact, when the request opts in', async () => {
    attachToken(client, provider)
    api.reject(await currentToken())
    api.reset()
    const res = await client.post('/orders', { qty: 3 }, { tokenstash: { retryOn401: true } })
    expect(res.data).toMatchObject({ method: 'POST', body: { qty: 3 } })
    expect(api.log().map((r) => `${r.method} ${r.verdict}`)).toEqual(['POST revoked', 'POST valid'])
  })

  it('should not treat a 401 insufficient_scope as an expired token', async () => {
    attachToken(client, provider)
    const error = await rejected(client.get('/admin/users'))
    expect(error.response?.status).toBe(401)
    expect(error.response?.headers['www-authenticate']).toContain('error="insufficient_scope"')
    expect(api.requests()).toBe(1)
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
    api.failNext(1, { status: 503, retryAfterSeconds: 1 })
    const res = await client.get('/orders/1')
    expect(res.status).toBe(200)
    expect(delays).toHaveLength(1)
    expect(delays[0]).toBeGreaterThanOrEqual(1_000)
    expect(api.log().map((r) => r.verdict)).toEqual(['failure-injected', 'valid'])
  })

  it('should retry a dropped connection for GET, and not for POST', async () => {
    attachToken(client, provider, { retry: NO_DELAY })
    api.failNext(1, { destroy: true })
    expect((await client.get('/orders/1')).status).toBe(200)
    api.failNext(1, { destroy: true })
    const error = await rejected(client.post('/orders', { qty: 1 }))
    expect(error.code).toBe('ECONNRESET')
    expect(api.log().map((r) => `${r.method} ${r.verdict}`)).toEqual([
      'GET failure-injected',
      'GET valid',
      'POST failure-injected',
    ])
  })

  it('should give up after the retries and reject with the last 503', async () => {
    attachToken(client, provider, { retry: { ...NO_DELAY, retries: 2 } })
    api.failNext(3, { status: 503 })
    const error = await rejected(client.get('/orders/1'))
    expect(error.response?.status).toBe(503)
    expect(api.requests()).toBe(3)
  })

  it('should compose a replay after 401 with a retry after 503, each attempt with a valid token', async () => {
    attachToken(client, provider, { retry: NO_DELAY })
    api.reject(await currentToken())
    api.failNext(1, { status: 503 })
    await issuer.resetCounts()
    // 503 first (injected), then the revoked token's 401, then the replay with a new token.
    expect((await client.get('/orders/1')).status).toBe(200)
    expect(api.log().map((r) => r.verdict)).toEqual(['failure-injected', 'revoked', 'valid'])
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
    api.failNext(1, { status: 200, delayMs: 400 })
    const slow = await rejected(client.get('/orders/1', { timeout: 50 }))
    expect(slow.code).toBe('ECONNABORTED')
    expect(slow.config?.headers.Authorization).toBe('[REDACTED]')
  })
})
