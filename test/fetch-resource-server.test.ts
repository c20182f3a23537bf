import { clientCredentials, createTokenProvider, type TokenProvider } from '@tokenstash/core'
import { withToken } from '@tokenstash/fetch'
import nock from 'nock'
import { type Issuer, startIssuer } from './support/issuer'
import { type ResourceServer, startResourceServer } from './support/resource-server'
import { leaks, type Sink, startSink } from './support/sink'

// withToken around the built-in fetch, between a real OAuth2 server (oidc-provider, RS256 JWTs) and
// a real protected API that verifies every token through the issuer's JWKS: the same situations as
// test/axios-issuer.test.ts. Token requests are counted by the issuer, API requests by the API.

const FAST_RETRY = { retries: 0, minTimeoutMs: 10, maxTimeoutMs: 50 }

describe('withToken against a real OAuth2 server and a JWKS-verifying API', () => {
  let issuer: Issuer
  let api: ResourceServer
  let sink: Sink
  let redirector: Sink
  let provider: TokenProvider
  /** Every error a request rejected with in this file: each must be free of every token. */
  const thrown: unknown[] = []

  const tokenRequests = () => issuer.tokenRequests()

  async function rejected(promise: Promise<unknown>): Promise<Error> {
    try {
      await promise
    } catch (error) {
      thrown.push(error)
      expect(leaks(error, api.tokensSeen())).toEqual([])
      return error as Error
    }
    throw new Error('expected the request to fail')
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
    redirector = await startSink()
  })

  afterAll(async () => {
    try {
      // Checked again at the end: every error of this file against every token the API saw.
      const tokens = api.tokensSeen()
      expect(tokens.length).toBeGreaterThan(3)
      expect(thrown.length).toBeGreaterThanOrEqual(2)
      for (const error of thrown) expect(leaks(error, tokens)).toEqual([])
    } finally {
      // Servers stop even when a check above fails (or `-t` ran only some tests), so jest can exit.
      await api?.stop()
      await sink?.stop()
      await redirector?.stop()
      await issuer?.stop()
      nock.enableNetConnect()
    }
  })

  beforeEach(async () => {
    await issuer.clearFailures()
    await issuer.resetCounts()
    api.reset()
    sink.headers.length = 0
    redirector.headers.length = 0
    redirector.redirectTo(undefined)
    const { clientId, clientSecret } = issuer.clients.basic
    provider = createTokenProvider({
      source: clientCredentials({
        tokenEndpoint: issuer.tokenEndpoint,
        clientId,
        clientSecret,
        scope: ['read'],
      }),
      retry: FAST_RETRY,
    })
  })

  const apiFetch = (options: Partial<Parameters<typeof withToken>[2]> = {}) =>
    withToken(fetch, provider, { origins: [api.url], ...options })

  it('should attach a token the API verifies through the JWKS, one token request for many calls', async () => {
    const f = apiFetch()
    const res = await f(`${api.url}/orders/1`)
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ ok: true, sub: issuer.clients.basic.clientId, scope: 'read' })
    expect((await f(new Request(`${api.url}/orders/2`))).status).toBe(200)
    expect((await f(new URL(`${api.url}/orders/3`))).status).toBe(200)
    expect(api.log().map((r) => r.verdict)).toEqual(['valid', 'valid', 'valid'])
    expect(await tokenRequests()).toBe(1)
  })

  it('should send no token to another origin, and never over an Authorization the caller set', async () => {
    const f = apiFetch()
    expect(await (await f(`${sink.url}/collect`)).json()).toEqual({ sink: true })
    const own = await f(`${api.url}/orders/1`, { headers: { Authorization: 'Bearer callers-own-token' } })
    expect(own.status).toBe(401)
    expect(sink.headers.map((h) => h.authorization)).toEqual([undefined])
    expect(api.log().map((r) => r.verdict)).toEqual(['invalid'])
    expect(await tokenRequests()).toBe(0)
  })

  it('should strip the token on a redirect to another origin, and give it again to an allowed one', async () => {
    const f = apiFetch({ origins: [api.url, redirector.url] })
    redirector.redirectTo(sink.url, 302)
    expect(await (await f(`${redirector.url}/out`)).json()).toEqual({ sink: true })
    expect(redirector.headers[0]?.authorization).toMatch(/^Bearer /)
    expect(sink.headers.map((h) => h.authorization)).toEqual([undefined])

    redirector.redirectTo(api.url, 307)
    const res = await f(`${redirector.url}/orders/9`, { method: 'PUT', body: '{"qty":1}' })
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ method: 'PUT', path: '/orders/9', body: { qty: 1 } })
    expect(api.log().map((r) => r.verdict)).toEqual(['valid'])
  })

  it('should refetch once and replay once when the API rejects the token (401 invalid_token)', async () => {
    const f = apiFetch()
    const first = await provider.getToken()
    api.reject(first)
    const res = await f(`${api.url}/orders/1`)
    expect(res.status).toBe(200)
    expect(api.log().map((r) => r.verdict)).toEqual(['revoked', 'valid'])
    expect(await tokenRequests()).toBe(2)
    expect(await provider.getToken()).not.toBe(first)
  })

  it('should cause one token request for a burst of concurrent 401s', async () => {
    const f = apiFetch()
    api.reject(await provider.getToken())
    await issuer.resetCounts()
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => f(`${api.url}/orders/${i}`)))
    expect(results.map((r) => r.status)).toEqual(Array(12).fill(200))
    expect(await tokenRequests()).toBe(1)
    const verdicts = api.log().map((r) => r.verdict)
    expect(verdicts.filter((v) => v === 'revoked')).toHaveLength(12)
    expect(verdicts.filter((v) => v === 'valid')).toHaveLength(12)
  })

  it('should not loop when the next token is rejected too, and stop refetching after that', async () => {
    const strict = await startResourceServer({
      issuer: issuer.issuer,
      jwksUri: issuer.jwksUri,
      audience: 'https://other.api.test',
    })
    try {
      const f = withToken(fetch, provider, { origins: [strict.url] })
      expect((await f(`${strict.url}/orders/1`)).status).toBe(401)
      expect(strict.log().map((r) => r.verdict)).toEqual(['invalid', 'invalid'])
      expect(await tokenRequests()).toBe(2)
      // The replacement was rejected as well: the provider's loop guard refuses a third token.
      strict.reset()
      expect((await f(`${strict.url}/orders/1`)).status).toBe(401)
      expect(strict.requests()).toBe(1)
      expect(await tokenRequests()).toBe(2)
    } finally {
      await strict.stop()
    }
  })

  it('should not replay a POST by default, but still drop the rejected token', async () => {
    api.reject(await provider.getToken())
    const post = { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"qty":2}' }
    expect((await apiFetch()(`${api.url}/orders`, post)).status).toBe(401)
    expect((await apiFetch()(`${api.url}/orders`, post)).status).toBe(200)
    expect(api.log().map((r) => `${r.method} ${r.verdict}`)).toEqual(['POST revoked', 'POST valid'])
  })

  it('should replay a POST, body intact, when its method is listed', async () => {
    api.reject(await provider.getToken())
    const post = { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"qty":2}' }
    const res = await apiFetch({ retryOn401: { methods: ['POST'] } })(`${api.url}/orders`, post)
    expect(await res.json()).toMatchObject({ method: 'POST', body: { qty: 2 } })
    expect(api.log().map((r) => `${r.method} ${r.verdict}`)).toEqual(['POST revoked', 'POST valid'])
  })

  it('should not replay a body that can be read only once', async () => {
    api.reject(await provider.getToken())
    const stream = new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('{"qty":4}'))
        controller.close()
      },
    })
    const f = apiFetch()
    const res = await f(`${api.url}/orders/4`, { method: 'PUT', body: stream, duplex: 'half' } as RequestInit)
    expect(res.status).toBe(401)
    expect(api.log().map((r) => r.verdict)).toEqual(['revoked'])
  })

  it('should not treat a 401 insufficient_scope as a rejected token', async () => {
    const res = await apiFetch()(`${api.url}/admin/users`)
    expect(res.status).toBe(401)
    expect(res.headers.get('www-authenticate')).toContain('error="insufficient_scope"')
    expect(api.requests()).toBe(1)
    expect(await tokenRequests()).toBe(1)
  })

  it('should reject without the token in the error: a refused connection, a wrapping fetch that echoes headers', async () => {
    const closed = await startSink()
    await closed.stop()
    const refused = await rejected(withToken(fetch, provider, { origins: [closed.url] })(`${closed.url}/x`))
    expect([refused.name, refused.message]).toEqual(['TypeError', 'fetch failed'])

    const echoing: typeof fetch = async (input, init) => {
      const auth = new Headers(init?.headers).get('authorization')
      throw new Error(`tracing: request to ${String(input)} with ${auth} failed`, {
        cause: { headers: init?.headers, auth },
      })
    }
    const error = await rejected(withToken(echoing, provider, { origins: [api.url] })(`${api.url}/x`))
    expect(error.message).toContain('with Bearer [REDACTED] failed')
    expect(leaks(error, [await provider.getToken()])).toEqual([])
  })
})
