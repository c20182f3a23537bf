import { createRemoteJWKSet, jwtVerify, SignJWT } from 'jose'
import { type Issuer, IssuerError, startIssuer, tokenVerifier } from './support/issuer'
import { useServers } from './support/servers'

const TTL = 4

type Json = Record<string, unknown>
const json = (res: Response) => res.json() as Promise<Json>

async function tokenViaBasic(
  issuer: Issuer,
  extra: Record<string, string> = {},
  secret = issuer.clients.basic.clientSecret,
  signal?: AbortSignal,
) {
  const { clientId } = issuer.clients.basic
  return fetch(issuer.tokenEndpoint, {
    method: 'POST',
    signal,
    headers: { authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}` },
    body: new URLSearchParams({ grant_type: 'client_credentials', ...extra }),
  })
}

async function tokenViaPost(issuer: Issuer, extra: Record<string, string> = {}) {
  const { clientId, clientSecret } = issuer.clients.post
  return fetch(issuer.tokenEndpoint, {
    method: 'POST',
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: clientId,
      client_secret: clientSecret,
      ...extra,
    }),
  })
}

async function tokenViaPrivateKeyJwt(issuer: Issuer, extra: Record<string, string> = {}) {
  const { clientId, privateKey, keyId, alg } = issuer.clients.privateKeyJwt
  const assertion = await new SignJWT({})
    .setProtectedHeader({ alg, kid: keyId })
    .setIssuer(clientId)
    .setSubject(clientId)
    .setAudience(issuer.tokenEndpoint)
    .setJti(crypto.randomUUID())
    .setIssuedAt()
    .setExpirationTime('60s')
    .sign(privateKey)
  return fetch(issuer.tokenEndpoint, {
    method: 'POST',
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion,
      ...extra,
    }),
  })
}

describe('startIssuer', () => {
  const servers = useServers({ issuer: { accessTokenTtlSeconds: TTL }, resetEach: true })
  const verify = tokenVerifier(() => servers.issuer)

  it('should serve a discovery document naming the token endpoint, the JWKS and every auth method', async () => {
    const res = await fetch(servers.issuer.discoveryUrl)
    expect(res.status).toBe(200)
    const doc = await json(res)
    expect(doc.issuer).toBe(servers.issuer.issuer)
    expect(doc.token_endpoint).toBe(servers.issuer.tokenEndpoint)
    expect(doc.jwks_uri).toBe(servers.issuer.jwksUri)
    expect(doc.grant_types_supported).toContain('client_credentials')
    expect(doc.token_endpoint_auth_methods_supported).toEqual(
      expect.arrayContaining(['client_secret_basic', 'client_secret_post', 'private_key_jwt']),
    )
    expect(doc.scopes_supported).toEqual(expect.arrayContaining(['read', 'write']))
    expect(new URL(servers.issuer.issuer).hostname).toBe('127.0.0.1')
    expect(await servers.issuer.discoveryRequests()).toBe(1)
  })

  it.each([
    ['client_secret_basic', tokenViaBasic, () => servers.issuer.clients.basic.clientId],
    ['client_secret_post', tokenViaPost, () => servers.issuer.clients.post.clientId],
    ['private_key_jwt', tokenViaPrivateKeyJwt, () => servers.issuer.clients.privateKeyJwt.clientId],
  ] as const)(
    'should issue a JWT via %s that the JWKS verifies, with exp - iat equal to the TTL',
    async (_, get, id) => {
      const res = await get(servers.issuer, { scope: 'read write' })
      expect(res.status).toBe(200)
      const body = await json(res)
      expect(body).toEqual({
        access_token: expect.any(String),
        token_type: 'Bearer',
        expires_in: TTL,
        scope: 'read write',
      })
      const claims = await verify(body.access_token as string)
      expect(claims.client_id).toBe(id())
      expect(claims.aud).toBe(servers.issuer.audience)
      expect(claims.scope).toBe('read write')
      expect(claims.exp! - claims.iat!).toBe(TTL)
      expect(await servers.issuer.tokenRequests(id())).toBe(1)
    },
  )

  it('should grant only the scopes asked for, and none when none are asked for', async () => {
    const some = await json(await tokenViaBasic(servers.issuer, { scope: 'read' }))
    expect(some.scope).toBe('read')
    const none = await json(await tokenViaBasic(servers.issuer))
    expect(none.scope).toBeUndefined()
    expect((await verify(none.access_token as string)).scope).toBeUndefined()
  })

  it('should count token requests per client and in total, and reset the counts', async () => {
    await tokenViaBasic(servers.issuer)
    await tokenViaBasic(servers.issuer)
    await tokenViaPost(servers.issuer)
    await tokenViaPrivateKeyJwt(servers.issuer)
    expect(await servers.issuer.tokenRequests()).toBe(4)
    expect(await servers.issuer.tokenRequests(servers.issuer.clients.basic.clientId)).toBe(2)
    expect(await servers.issuer.tokenRequests(servers.issuer.clients.post.clientId)).toBe(1)
    expect(await servers.issuer.tokenRequests(servers.issuer.clients.privateKeyJwt.clientId)).toBe(1)
    expect(await servers.issuer.tokenRequests('nobody')).toBe(0)
    const log = await servers.issuer.tokenRequestLog()
    expect(log.map((r) => r.status)).toEqual([200, 200, 200, 200])
    expect(log.every((r, i) => i === 0 || r.at >= log[i - 1]!.at)).toBe(true)
    await fetch(servers.issuer.jwksUri)
    expect(await servers.issuer.tokenRequests()).toBe(4)
    await servers.issuer.resetCounts()
    expect(await servers.issuer.tokenRequests()).toBe(0)
    expect(await servers.issuer.tokenRequestLog()).toEqual([])
  })

  it('should answer the next n token requests with the injected failure, then serve tokens again', async () => {
    await servers.issuer.failNext(2, { status: 503 })
    const first = await tokenViaPost(servers.issuer)
    expect(first.status).toBe(503)
    expect(await json(first)).toEqual({
      error: 'temporarily_unavailable',
      error_description: expect.any(String),
    })
    expect((await tokenViaBasic(servers.issuer)).status).toBe(503)
    const third = await tokenViaPost(servers.issuer)
    expect(third.status).toBe(200)
    await verify((await json(third)).access_token as string)
    const log = await servers.issuer.tokenRequestLog()
    expect(log.map(({ status, injected, clientId }) => ({ status, injected, clientId }))).toEqual([
      { status: 503, injected: true, clientId: servers.issuer.clients.post.clientId },
      { status: 503, injected: true, clientId: servers.issuer.clients.basic.clientId },
      { status: 200, injected: false, clientId: servers.issuer.clients.post.clientId },
    ])
  })

  it('should send Retry-After and a custom body with an injected failure', async () => {
    await servers.issuer.failNext(1, { status: 429, retryAfterSeconds: 7, body: { error: 'slow_down' } })
    await servers.issuer.failNext(1, { status: 200, body: '<html>maintenance</html>' })
    const limited = await tokenViaPrivateKeyJwt(servers.issuer)
    expect(limited.status).toBe(429)
    expect(limited.headers.get('retry-after')).toBe('7')
    expect(await json(limited)).toEqual({ error: 'slow_down' })
    const html = await tokenViaBasic(servers.issuer)
    expect(html.status).toBe(200)
    expect(html.headers.get('content-type')).toMatch(/^text\/html/)
    expect(await html.text()).toBe('<html>maintenance</html>')
    expect(await servers.issuer.tokenRequests(servers.issuer.clients.privateKeyJwt.clientId)).toBe(1)
  })

  it('should hold an injected failure for delayMs, long enough for a client timeout to fire', async () => {
    await servers.issuer.failNext(1, { status: 503, delayMs: 1_000 })
    await expect(
      tokenViaBasic(servers.issuer, {}, undefined, AbortSignal.timeout(100)),
    ).rejects.toMatchObject({
      name: 'TimeoutError',
    })
    const log = await servers.issuer.tokenRequestLog()
    expect(log).toEqual([
      expect.objectContaining({ injected: true, clientId: servers.issuer.clients.basic.clientId }),
    ])
  })

  it('should drop armed failures on clearFailures', async () => {
    await servers.issuer.failNext(3, { status: 500 })
    await servers.issuer.clearFailures()
    expect((await tokenViaBasic(servers.issuer)).status).toBe(200)
  })

  it('should answer a wrong secret with 401 invalid_client, counted once for that client', async () => {
    const res = await tokenViaBasic(servers.issuer, {}, 'not-the-secret')
    expect(res.status).toBe(401)
    expect((await json(res)).error).toBe('invalid_client')
    expect(await servers.issuer.tokenRequests()).toBe(1)
    expect(await servers.issuer.tokenRequests(servers.issuer.clients.basic.clientId)).toBe(1)
  })

  it('should answer a scope granted to no client with 400 invalid_scope', async () => {
    const res = await tokenViaBasic(servers.issuer, { scope: `read ${servers.issuer.forbiddenScope}` })
    expect(res.status).toBe(400)
    expect((await json(res)).error).toBe('invalid_scope')
  })

  it('should issue tokens for the configured audience only', async () => {
    const ok = await tokenViaPost(servers.issuer, { resource: servers.issuer.audience })
    expect(ok.status).toBe(200)
    const other = await tokenViaPost(servers.issuer, { resource: 'https://other.example.com' })
    expect(other.status).toBe(400)
    expect((await json(other)).error).toBe('invalid_target')
  })

  it('should reject bad failNext input with a typed error naming it', async () => {
    await expect(servers.issuer.failNext(0, { status: 503 })).rejects.toThrow(
      new RangeError('Expected `count` to be a positive integer, got 0'),
    )
    await expect(servers.issuer.failNext(1, { status: 42 })).rejects.toThrow(
      'Expected `failure.status` to be an HTTP status (100-599), got 42',
    )
    await expect(servers.issuer.failNext(1, { status: 429, retryAfterSeconds: -1 })).rejects.toThrow(
      RangeError,
    )
    await expect(servers.issuer.tokenRequests(7 as unknown as string)).rejects.toThrow(TypeError)
    expect((await tokenViaBasic(servers.issuer)).status).toBe(200)
  })
})

describe('startIssuer options and lifecycle', () => {
  useServers({})

  it('should reject bad options with a typed error naming the option', async () => {
    await expect(startIssuer({ accessTokenTtlSeconds: 0 })).rejects.toThrow(
      new RangeError('Expected `accessTokenTtlSeconds` to be a positive integer, got 0'),
    )
    await expect(startIssuer({ accessTokenTtlSeconds: 1.5 })).rejects.toThrow(RangeError)
    await expect(startIssuer({ scopes: ['read write'] })).rejects.toThrow(/Expected `scopes`/)
    await expect(startIssuer({ audience: 'not a url' })).rejects.toThrow(/Expected `audience`/)
    await expect(startIssuer({ privateKeyAlg: 'HS256' as 'RS256' })).rejects.toThrow(
      /Expected `privateKeyAlg`/,
    )
    await expect(startIssuer({ port: 70_000 })).rejects.toThrow(/Expected `port`/)
    await expect(startIssuer({ clientSecrets: { basic: 's' } as never })).rejects.toThrow(
      /Expected `clientSecrets`/,
    )
    await expect(startIssuer(null as unknown as undefined)).rejects.toThrow(TypeError)
    await expect(startIssuer({ accessTokenTTL: 5 } as never)).rejects.toThrow(
      /Unknown option `accessTokenTTL` of `startIssuer`; known: accessTokenTtlSeconds/,
    )
  })

  it('should apply scopes, audience, TTL and an RSA client key when asked', async () => {
    const issuer = await startIssuer({
      accessTokenTtlSeconds: 3,
      scopes: ['orders:read'],
      audience: 'https://orders.example.test',
      privateKeyAlg: 'RS256',
    })
    try {
      expect(issuer.clients.privateKeyJwt.privateJwk).toMatchObject({ kty: 'RSA', alg: 'RS256' })
      expect(issuer.clients.privateKeyJwt.publicJwk.d).toBeUndefined()
      const res = await tokenViaPrivateKeyJwt(issuer, { scope: 'orders:read' })
      const body = await json(res)
      expect(body.expires_in).toBe(3)
      const { payload } = await jwtVerify(
        body.access_token as string,
        createRemoteJWKSet(new URL(issuer.jwksUri)),
        {
          audience: 'https://orders.example.test',
        },
      )
      expect(payload.exp! - payload.iat!).toBe(3)
      expect(payload.scope).toBe('orders:read')
    } finally {
      await issuer.stop()
    }
  })

  it('should pick a different port and fresh secrets for each server', async () => {
    const [a, b] = await Promise.all([startIssuer(), startIssuer()])
    try {
      expect(a.port).not.toBe(b.port)
      expect(a.clients.basic.clientSecret).not.toBe(b.clients.basic.clientSecret)
      const res = await tokenViaBasic(a, {}, b.clients.basic.clientSecret)
      expect(res.status).toBe(401)
    } finally {
      await Promise.all([a.stop(), b.stop()])
    }
  })

  it('should stop the server, be safe to stop twice, and refuse calls afterwards', async () => {
    const issuer = await startIssuer()
    await issuer.stop()
    await issuer.stop()
    expect(() => process.kill(issuer.pid, 0)).toThrow()
    await expect(fetch(issuer.discoveryUrl)).rejects.toThrow()
    await expect(issuer.tokenRequests()).rejects.toBeInstanceOf(IssuerError)
  })

  it('should give up with an IssuerError when the server is not ready within startTimeoutMs', async () => {
    await expect(startIssuer({ startTimeoutMs: 1 })).rejects.toThrow(
      expect.objectContaining({
        name: 'IssuerError',
        message: expect.stringMatching(/did not start within 1 ms/),
      }),
    )
  })

  it('should turn a crash of the server into an IssuerError on the next call', async () => {
    const issuer = await startIssuer()
    const exited = new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        try {
          process.kill(issuer.pid, 0)
        } catch {
          clearInterval(poll)
          resolve()
        }
      }, 10)
    })
    process.kill(issuer.pid, 'SIGKILL')
    await exited
    await expect(issuer.tokenRequests()).rejects.toThrow(/not running|killed by SIGKILL/)
    await issuer.stop()
  })
})
