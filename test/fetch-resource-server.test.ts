import { createTokenProvider, type TokenProvider } from '@tokenstash/core'
import { withToken } from '@tokenstash/fetch'
import { issuerSource } from './support/fleet'
import { startResourceServerFor } from './support/resource-server'
import { useServers } from './support/servers'
import { leaks, startSink, useTokenFreeRejections } from './support/sink'

// withToken around the built-in fetch, between a real OAuth2 server (oidc-provider, RS256 JWTs) and
// a real protected API that verifies every token through the issuer's JWKS: the same situations as
// test/axios-issuer.test.ts. Token requests are counted by the issuer, API requests by the API.

const FAST_RETRY = { retries: 0, minTimeoutMs: 10, maxTimeoutMs: 50 }

describe('withToken against a real OAuth2 server and a JWKS-verifying API', () => {
  const servers = useServers({
    issuer: { accessTokenTtlSeconds: 300 },
    api: { requiredScopes: { '/admin': 'admin' }, insufficientScopeStatus: 401 },
    sinks: ['other', 'redirector'],
    resetEach: true,
  })
  let provider: TokenProvider
  const tokenRequests = () => servers.issuer.tokenRequests()

  /** Every error a request rejects with must be free of every token the API saw in this file. */
  const rejected = useTokenFreeRejections(() => servers.api.tokensSeen(), { tokens: 4, errors: 2 })

  beforeEach(() => {
    provider = createTokenProvider({
      source: issuerSource(servers.issuer, { scope: ['read'] }),
      retry: FAST_RETRY,
    })
  })

  const apiFetch = (options: Partial<Parameters<typeof withToken>[2]> = {}) =>
    withToken(fetch, provider, { origins: [servers.api.url], ...options })

  it('should attach a token the API verifies through the JWKS, one token request for many calls', async () => {
    const f = apiFetch()
    const res = await f(`${servers.api.url}/orders/1`)
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({
      ok: true,
      sub: servers.issuer.clients.basic.clientId,
      scope: 'read',
    })
    expect((await f(new Request(`${servers.api.url}/orders/2`))).status).toBe(200)
    expect((await f(new URL(`${servers.api.url}/orders/3`))).status).toBe(200)
    expect(servers.api.log().map((r) => r.verdict)).toEqual(['valid', 'valid', 'valid'])
    expect(await tokenRequests()).toBe(1)
  })

  it('should send no token to another origin, and never over an Authorization the caller set', async () => {
    const f = apiFetch()
    expect(await (await f(`${servers.sinks.other.url}/collect`)).json()).toEqual({ sink: true })
    const own = await f(`${servers.api.url}/orders/1`, {
      headers: { Authorization: 'Bearer callers-own-token' },
    })
    expect(own.status).toBe(401)
    expect(servers.sinks.other.headers.map((h) => h.authorization)).toEqual([undefined])
    expect(servers.api.log().map((r) => r.verdict)).toEqual(['invalid'])
    expect(await tokenRequests()).toBe(0)
  })

  it('should strip the token on a redirect to another origin, and give it again to an allowed one', async () => {
    const f = apiFetch({ origins: [servers.api.url, servers.sinks.redirector.url] })
    servers.sinks.redirector.redirectTo(servers.sinks.other.url, 302)
    expect(await (await f(`${servers.sinks.redirector.url}/out`)).json()).toEqual({ sink: true })
    expect(servers.sinks.redirector.headers[0]?.authorization).toMatch(/^Bearer /)
    expect(servers.sinks.other.headers.map((h) => h.authorization)).toEqual([undefined])

    servers.sinks.redirector.redirectTo(servers.api.url, 307)
    const res = await f(`${servers.sinks.redirector.url}/orders/9`, { method: 'PUT', body: '{"qty":1}' })
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ method: 'PUT', path: '/orders/9', body: { qty: 1 } })
    expect(servers.api.log().map((r) => r.verdict)).toEqual(['valid'])
  })

  it('should refetch once and replay once when the API rejects the token (401 invalid_token)', async () => {
    const f = apiFetch()
    const first = await provider.getToken()
    servers.api.reject(first)
    const res = await f(`${servers.api.url}/orders/1`)
    expect(res.status).toBe(200)
    expect(servers.api.log().map((r) => r.verdict)).toEqual(['revoked', 'valid'])
    expect(await tokenRequests()).toBe(2)
    expect(await provider.getToken()).not.toBe(first)
  })

  it('should cause one token request for a burst of concurrent 401s', async () => {
    const f = apiFetch()
    servers.api.reject(await provider.getToken())
    await servers.issuer.resetCounts()
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => f(`${servers.api.url}/orders/${i}`)),
    )
    expect(results.map((r) => r.status)).toEqual(Array(12).fill(200))
    expect(await tokenRequests()).toBe(1)
    // Each request was sent once with the revoked token and replayed once with the new one.
    expect(servers.api.verdictCounts()).toEqual({ revoked: 12, valid: 12 })
  })

  it('should not loop when the next token is rejected too, and stop refetching after that', async () => {
    const strict = await startResourceServerFor(servers.issuer, { audience: 'https://other.api.test' })
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
    servers.api.reject(await provider.getToken())
    const post = { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"qty":2}' }
    expect((await apiFetch()(`${servers.api.url}/orders`, post)).status).toBe(401)
    expect((await apiFetch()(`${servers.api.url}/orders`, post)).status).toBe(200)
    expect(servers.api.log().map((r) => `${r.method} ${r.verdict}`)).toEqual(['POST revoked', 'POST valid'])
  })

  it('should replay a POST, body intact, when its method is listed', async () => {
    servers.api.reject(await provider.getToken())
    const post = { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"qty":2}' }
    const res = await apiFetch({ retryOn401: { methods: ['POST'] } })(`${servers.api.url}/orders`, post)
    expect(await res.json()).toMatchObject({ method: 'POST', body: { qty: 2 } })
    expect(servers.api.log().map((r) => `${r.method} ${r.verdict}`)).toEqual(['POST revoked', 'POST valid'])
  })

  it('should not replay a body that can be read only once', async () => {
    servers.api.reject(await provider.getToken())
    const stream = new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('{"qty":4}'))
        controller.close()
      },
    })
    const f = apiFetch()
    const res = await f(`${servers.api.url}/orders/4`, {
      method: 'PUT',
      body: stream,
      duplex: 'half',
    } as RequestInit)
    expect(res.status).toBe(401)
    expect(servers.api.log().map((r) => r.verdict)).toEqual(['revoked'])
  })

  it('should not treat a 401 insufficient_scope as a rejected token', async () => {
    const res = await apiFetch()(`${servers.api.url}/admin/users`)
    expect(res.status).toBe(401)
    expect(res.headers.get('www-authenticate')).toContain('error="insufficient_scope"')
    expect(servers.api.requests()).toBe(1)
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
    const error = await rejected(
      withToken(echoing, provider, { origins: [servers.api.url] })(`${servers.api.url}/x`),
    )
    expect(error.message).toContain('with Bearer [REDACTED] failed')
    expect(leaks(error, [await provider.getToken()])).toEqual([])
  })
})
