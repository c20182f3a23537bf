import {
  type ClientCredentialsOptions,
  clientCredentials,
  createTokenProvider,
  TokenEndpointError,
  type TokenEvent,
  type TokenProviderOptions,
} from '@tokenstash/core'
import { tokenVerifier } from './support/issuer'
import { useServers } from './support/servers'

// @tokenstash/core against a real OAuth2 server (oidc-provider in a child process): every auth
// method, discovery, refresh timing on the real clock, single flight, and the retry rules, each
// checked by what the server itself saw.

const TTL_SECONDS = 4
/** Below an eighth of the shortest lifetime here (~3 s after JWT second rounding), so it applies as given. */
const SKEW_MS = 300
const FAST_RETRY = { retries: 2, minTimeoutMs: 20, maxTimeoutMs: 100 }

describe('createTokenProvider with clientCredentials against a real issuer', () => {
  const servers = useServers({ issuer: { accessTokenTtlSeconds: TTL_SECONDS }, resetEach: true })
  const verify = tokenVerifier(() => servers.issuer)

  function provider(
    source: Partial<ClientCredentialsOptions> = {},
    options: Partial<TokenProviderOptions> = {},
  ) {
    const events: (TokenEvent & { at: number })[] = []
    const { clientId, clientSecret } = servers.issuer.clients.basic
    const p = createTokenProvider({
      source: clientCredentials({
        tokenEndpoint: servers.issuer.tokenEndpoint,
        clientId,
        clientSecret,
        ...source,
      }),
      retry: FAST_RETRY,
      expirySkewMs: SKEW_MS,
      onEvent: (e) => events.push({ ...e, at: Date.now() }),
      ...options,
    })
    return { provider: p, events }
  }

  /** Neither the token nor the secret may show up in any event. */
  function expectNoLeak(events: TokenEvent[], ...secrets: string[]) {
    const text = JSON.stringify(events)
    for (const s of secrets) expect(text).not.toContain(s)
  }

  it('should get a token via client_secret_basic that the JWKS verifies', async () => {
    const { provider: p, events } = provider({ scope: ['read', 'write'] })
    const set = await p.getTokenSet()
    const claims = await verify(set.accessToken)
    expect(claims.client_id).toBe(servers.issuer.clients.basic.clientId)
    expect(claims.scope).toBe('read write')
    expect(set.tokenType).toBe('Bearer')
    expect(set.scope).toBe('read write')
    // expiresAt is the earlier of issuedAt + expires_in and the JWT's exp.
    expect(set.expiresAt).toBe(Math.min(set.issuedAt + TTL_SECONDS * 1000, claims.exp! * 1000))
    expect(await servers.issuer.tokenRequests(servers.issuer.clients.basic.clientId)).toBe(1)
    expect(events.map((e) => e.type)).toEqual(['fetch'])
    expectNoLeak(events, set.accessToken, servers.issuer.clients.basic.clientSecret)
  })

  it('should get a token via client_secret_post that the JWKS verifies', async () => {
    const { clientId, clientSecret } = servers.issuer.clients.post
    const { provider: p } = provider({ clientId, clientSecret, authMethod: 'client_secret_post' })
    const claims = await verify(await p.getToken())
    expect(claims.client_id).toBe(clientId)
    expect(await servers.issuer.tokenRequests(clientId)).toBe(1)
    expect(await servers.issuer.tokenRequests()).toBe(1)
  })

  it.each([
    ['a private JWK', () => servers.issuer.clients.privateKeyJwt.privateJwk],
    ['a KeyObject', () => servers.issuer.clients.privateKeyJwt.privateKey],
  ])('should get a token via private_key_jwt with %s that the JWKS verifies', async (_, key) => {
    const { clientId, keyId } = servers.issuer.clients.privateKeyJwt
    const { provider: p } = provider({ clientId, clientSecret: undefined, privateKey: key(), keyId })
    const claims = await verify(await p.getToken())
    expect(claims.client_id).toBe(clientId)
    const log = await servers.issuer.tokenRequestLog()
    expect(log).toEqual([expect.objectContaining({ clientId, status: 200, injected: false })])
  })

  it('should discover the token endpoint from the issuer once, then get tokens from it', async () => {
    const { clientId, clientSecret } = servers.issuer.clients.post
    const source = clientCredentials({
      issuer: servers.issuer.issuer,
      clientId,
      clientSecret,
      authMethod: 'client_secret_post',
      resource: servers.issuer.audience,
    })
    const [a, b] = [createTokenProvider({ source }), createTokenProvider({ source, namespace: 'other' })]
    const [tokenA, tokenB] = await Promise.all([a.getToken(), b.getToken()])
    expect((await verify(tokenA)).client_id).toBe(clientId)
    await verify(tokenB)
    expect(await servers.issuer.discoveryRequests()).toBe(1)
    expect(await servers.issuer.tokenRequests(clientId)).toBe(2)
  })

  it('should refresh once after refreshAt and before expiry, never serving a token past usableUntil', async () => {
    const { provider: p, events } = provider({}, { refreshRatio: 0.75, jitter: 0 })
    const first = await p.getTokenSet()
    const lifetime = first.expiresAt - first.issuedAt
    const refreshAt = first.issuedAt + 0.75 * lifetime
    const usableUntil = (set: { expiresAt: number }) => set.expiresAt - SKEW_MS
    const expiryOf = new Map([[first.accessToken, first.expiresAt]])

    // Poll on the real clock until a second token shows up, and then a little longer.
    const served: { calledAt: number; returnedAt: number; token: string }[] = []
    const deadline = first.expiresAt + 1_000
    let replacedAt: number | undefined
    while (Date.now() < deadline && (replacedAt === undefined || Date.now() < replacedAt + 300)) {
      const calledAt = Date.now()
      const token = await p.getToken()
      served.push({ calledAt, returnedAt: Date.now(), token })
      if (token !== first.accessToken && replacedAt === undefined) replacedAt = calledAt
      await new Promise((resolve) => setTimeout(resolve, 40))
    }

    const log = await servers.issuer.tokenRequestLog()
    expect(log).toHaveLength(2)
    const refreshRequest = log[1]!
    expect(refreshRequest.status).toBe(200)
    expect(refreshRequest.at).toBeGreaterThanOrEqual(Math.floor(refreshAt))
    expect(refreshRequest.at).toBeLessThan(first.expiresAt)

    const refreshEvents = events.filter((e) => e.type === 'refresh')
    expect(refreshEvents).toHaveLength(1)
    expect(refreshEvents[0]!.at).toBeGreaterThanOrEqual(refreshAt)
    expect(refreshEvents[0]!.at).toBeLessThan(first.expiresAt)
    expect(refreshEvents[0]!.expiresAt).toBeGreaterThan(first.expiresAt)

    const second = await p.getTokenSet()
    expect(second.accessToken).not.toBe(first.accessToken)
    expect(second.issuedAt).toBeGreaterThanOrEqual(refreshAt - 1)
    await verify(second.accessToken)
    expiryOf.set(second.accessToken, second.expiresAt)

    expect(replacedAt).toBeDefined()
    expect(served.length).toBeGreaterThan(10)
    for (const { calledAt, token } of served) {
      expect(expiryOf.has(token)).toBe(true)
      expect(calledAt).toBeLessThan(usableUntil({ expiresAt: expiryOf.get(token)! }))
    }
    // The old token was still being served between refreshAt and the refresh landing.
    expect(served.some((s) => s.token === first.accessToken && s.returnedAt >= refreshAt)).toBe(true)
    expectNoLeak(events, first.accessToken, second.accessToken)
  })

  it('should stop serving a token at usableUntil when every refresh fails, and recover after', async () => {
    const { provider: p, events } = provider({}, { jitter: 0 })
    const first = await p.getTokenSet()
    const usableUntil = first.expiresAt - SKEW_MS
    // More failures than the refreshes and retries of the next seconds can use up.
    await servers.issuer.failNext(1_000, { status: 503 })

    const outcomes: { calledAt: number; token?: string; error?: unknown }[] = []
    while (Date.now() < usableUntil + 600) {
      const calledAt = Date.now()
      await p.getToken().then(
        (token) => outcomes.push({ calledAt, token }),
        (error: unknown) => outcomes.push({ calledAt, error }),
      )
      await new Promise((resolve) => setTimeout(resolve, 40))
    }
    await servers.issuer.clearFailures()

    const before = outcomes.filter((o) => o.calledAt < usableUntil - 50)
    const after = outcomes.filter((o) => o.calledAt >= usableUntil)
    // Up to usableUntil the cached token keeps being served although refreshes fail...
    expect(before.length).toBeGreaterThan(5)
    expect(before.every((o) => o.token === first.accessToken)).toBe(true)
    // ...and from usableUntil on it is never handed out again: the caller gets the endpoint's error.
    expect(after.length).toBeGreaterThan(0)
    for (const o of after) {
      expect(o.token).toBeUndefined()
      expect(o.error).toBeInstanceOf(TokenEndpointError)
      expect(o.error).toMatchObject({ status: 503, retryable: true })
    }
    expect(events.some((e) => e.type === 'retry')).toBe(true)
    const log = await servers.issuer.tokenRequestLog()
    expect(log.filter((r) => r.injected).length).toBeGreaterThan(0)
    expect(log.filter((r) => !r.injected)).toHaveLength(1)

    // Failures were not cached: with the server healthy again the next call gets a new token.
    const next = await p.getToken()
    expect(next).not.toBe(first.accessToken)
    await verify(next)
    expectNoLeak(events, first.accessToken, next)
  })

  it('should send exactly one token request for 200 concurrent getToken calls on a cold provider', async () => {
    const { provider: p, events } = provider()
    const tokens = await Promise.all(Array.from({ length: 200 }, () => p.getToken()))
    expect(new Set(tokens).size).toBe(1)
    await verify(tokens[0]!)
    expect(await servers.issuer.tokenRequests()).toBe(1)
    expect(p.stats().fetches).toBe(1)
    expect(events.filter((e) => e.type === 'fetch')).toHaveLength(1)
  })

  it('should fail fast on a wrong secret with a typed invalid_client error and one request', async () => {
    const wrongSecret = `wrong-${servers.issuer.clients.basic.clientSecret.slice(0, 8)}-secret`
    const { provider: p, events } = provider({ clientSecret: wrongSecret })
    const error = await p.getToken().then(
      () => undefined,
      (err: unknown) => err,
    )
    expect(error).toBeInstanceOf(TokenEndpointError)
    const e = error as TokenEndpointError
    expect(e).toMatchObject({
      code: 'ERR_TOKEN_ENDPOINT',
      error: 'invalid_client',
      status: 401,
      retryable: false,
    })
    expect(e.endpoint).toBe(servers.issuer.tokenEndpoint)
    expect(e.message).not.toContain(wrongSecret)
    expect(await servers.issuer.tokenRequests()).toBe(1)
    expect(events.map((ev) => ev.type)).not.toContain('retry')
    expectNoLeak(events, wrongSecret, servers.issuer.clients.basic.clientSecret)

    // A failure is not cached: the next call asks again (once).
    await expect(p.getToken()).rejects.toBeInstanceOf(TokenEndpointError)
    expect(await servers.issuer.tokenRequests()).toBe(2)
  })

  it('should retry a 503 and serve the token from the retry', async () => {
    await servers.issuer.failNext(1, { status: 503 })
    const { provider: p, events } = provider()
    const token = await p.getToken()
    await verify(token)
    const log = await servers.issuer.tokenRequestLog()
    expect(log.map(({ status, injected }) => ({ status, injected }))).toEqual([
      { status: 503, injected: true },
      { status: 200, injected: false },
    ])
    expect(events.filter((e) => e.type === 'retry')).toEqual([
      expect.objectContaining({ attempt: 1, status: 503 }),
    ])
    expect(p.stats()).toMatchObject({ fetches: 2, fetchErrors: 1 })
    expectNoLeak(events, token)
  })

  it('should honour Retry-After on a 429: the retry comes no earlier than asked', async () => {
    await servers.issuer.failNext(1, { status: 429, retryAfterSeconds: 1 })
    const { provider: p, events } = provider()
    const token = await p.getToken()
    await verify(token)
    const log = await servers.issuer.tokenRequestLog()
    expect(log.map((r) => r.status)).toEqual([429, 200])
    expect(log[1]!.at - log[0]!.at).toBeGreaterThanOrEqual(1_000)
    const cooldown = events.find((e) => e.type === 'cooldown')
    expect(cooldown?.retryAt).toBeGreaterThanOrEqual(log[0]!.at + 1_000)
    expect(log[1]!.at).toBeGreaterThanOrEqual(cooldown!.retryAt!)
  })
})
