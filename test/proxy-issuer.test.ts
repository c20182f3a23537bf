import { createTokenProxy, type ProxyListener, type TokenProxyOptions } from '@tokenstash/proxy'
import type { APIGatewayProxyEvent, APIGatewayProxyEventV2, LambdaFunctionURLEvent } from 'aws-lambda'
import { startCognitoDomain } from '../examples/lambda-dynamodb/src/local/cognito-domain'
import { claimsOf, type Relay, randomKey, requestToken, startRelay } from './support/proxy-client'
import { useServers } from './support/servers'

// @tokenstash/proxy over HTTP in front of a real OAuth2 server (oidc-provider): what clients that
// only change the token URL get. Every count is the server's own count of token requests.

describe('@tokenstash/proxy in front of oidc-provider', () => {
  const servers = useServers({ issuer: { accessTokenTtlSeconds: 600 }, resetEach: true })
  const listeners: ProxyListener[] = []
  const relays: Relay[] = []
  let offsetMs = 0
  const now = () => Date.now() + offsetMs

  async function start(options: Partial<TokenProxyOptions> = {}): Promise<string> {
    const proxy = createTokenProxy({
      upstream: servers.issuer.tokenEndpoint,
      hmacKey: randomKey(),
      now,
      ...options,
    })
    const listener = await proxy.listen(0)
    listeners.push(listener)
    return listener.url
  }

  beforeEach(() => {
    offsetMs = 0
  })
  afterEach(async () => {
    await Promise.all(listeners.splice(0).map((l) => l.close()))
    await Promise.all(relays.splice(0).map((r) => r.down()))
  })

  it('should forward a miss, then answer hits from the cache without asking the server', async () => {
    const url = await start()
    const client = servers.issuer.clients.basic
    const miss = await requestToken(url, { client, scope: 'read' })
    const hit = await requestToken(url, { client, scope: 'read' })

    expect(miss.status).toBe(200)
    expect(miss.headers.get('cache-status')).toBe('tokenstash; fwd=miss')
    expect(hit.headers.get('cache-status')).toBe('tokenstash; hit')
    for (const reply of [miss, hit]) {
      expect(reply.headers.get('cache-control')).toBe('no-store')
      expect(reply.headers.get('pragma')).toBe('no-cache')
      expect(reply.headers.get('content-type')).toBe('application/json;charset=UTF-8')
      // A hit is written by the node:http fast path, a miss by the general one: the same bytes.
      expect(Number(reply.headers.get('content-length'))).toBe(Buffer.byteLength(JSON.stringify(reply.body)))
      expect(reply.body).toMatchObject({ token_type: 'Bearer', scope: 'read' })
    }
    expect(Object.keys(hit.body)).toEqual(Object.keys(miss.body))
    expect(hit.body.access_token).toBe(miss.body.access_token)
    expect(claimsOf(hit.body.access_token)).toMatchObject({ client_id: client.clientId, scope: 'read' })
    expect(await servers.issuer.tokenRequests()).toBe(1)
  })

  it('should count expires_in down on hits to what is left of the token', async () => {
    const url = await start()
    const client = servers.issuer.clients.basic
    const first = await requestToken(url, { client })
    offsetMs = 100_000
    const later = await requestToken(url, { client })
    offsetMs = 300_000
    const latest = await requestToken(url, { client })

    const expiresIn = [first, later, latest].map((r) => r.body.expires_in as number)
    expect(expiresIn[0]).toBeGreaterThanOrEqual(598)
    expect(expiresIn[0]! - expiresIn[1]!).toBeGreaterThanOrEqual(99)
    expect(expiresIn[0]! - expiresIn[1]!).toBeLessThanOrEqual(101)
    expect(expiresIn[0]! - expiresIn[2]!).toBeGreaterThanOrEqual(299)
    expect(expiresIn[0]! - expiresIn[2]!).toBeLessThanOrEqual(301)
    expect(latest.headers.get('cache-status')).toBe('tokenstash; hit')
    expect(await servers.issuer.tokenRequests()).toBe(1)
  })

  it('should never answer a wrong secret from the cache', async () => {
    const url = await start({ negativeTtlMs: 0 })
    for (const client of [servers.issuer.clients.basic, servers.issuer.clients.post]) {
      const good = await requestToken(url, { client })
      expect(good.status).toBe(200)
      const wrong = await requestToken(url, { client, secret: `${client.clientSecret}x` })
      expect(wrong.status).toBe(401)
      expect(wrong.body).toMatchObject({ error: 'invalid_client' })
      expect(wrong.body.access_token).toBeUndefined()
      expect(wrong.headers.get('cache-status')).toBe('tokenstash; fwd=miss; fwd-status=401')
    }
    expect(await servers.issuer.tokenRequests()).toBe(4)
  })

  it('should give each client the scopes it asked for, in the body or the query string, and never one token for two sets', async () => {
    // oidc-provider reads POST /token parameters from the body only (a `?scope=` is ignored), so
    // the query-string clients go through a Cognito-shaped front that moves the query into the
    // body, as the API Gateway recipe's mapping does. The proxy cannot know which upstream reads
    // the query string: requests with query parameters go upstream as received, uncached.
    const domain = await startCognitoDomain(servers.issuer.tokenEndpoint, { queryToBody: true })
    try {
      const url = await start({ upstream: `${domain.origin}/oauth2/token` })
      const client = servers.issuer.clients.basic
      const asks: { scope?: string; queryScope?: string; granted: string; cache: string }[] = [
        { scope: 'read', granted: 'read', cache: 'fwd=miss' },
        { queryScope: 'write', granted: 'write', cache: 'fwd=bypass' },
        { queryScope: 'write read', granted: 'read write', cache: 'fwd=bypass' },
        { scope: 'write read', granted: 'read write', cache: 'fwd=miss' },
        { scope: 'read write', granted: 'read write', cache: 'hit' },
        { queryScope: 'read', granted: 'read', cache: 'fwd=bypass' },
        { scope: 'read', granted: 'read', cache: 'hit' },
      ]
      const bodyTokens = new Map<string, Set<unknown>>()
      for (const { granted, cache, ...ask } of asks) {
        const reply = await requestToken(url, { client, ...ask })
        expect([reply.status, reply.headers.get('cache-status')]).toEqual([200, `tokenstash; ${cache}`])
        const scope = String(claimsOf(reply.body.access_token).scope)
        expect(scope.split(' ').sort().join(' ')).toBe(granted)
        if (ask.scope)
          bodyTokens.set(granted, (bodyTokens.get(granted) ?? new Set()).add(reply.body.access_token))
      }
      // One cached token per scope set, whatever the order; no token serves two sets.
      expect([...bodyTokens.values()].map((tokens) => tokens.size)).toEqual([1, 1])
      expect(await servers.issuer.tokenRequests()).toBe(5)
      // Only %x20 separates scopes: a doubled space is not the same set to oidc-provider.
      const doubled = await requestToken(url, { client, scope: 'write  read' })
      expect([doubled.status, doubled.body.error]).toEqual([400, 'invalid_scope'])
    } finally {
      await domain.stop()
    }
  })

  it('should keep scope sets apart whatever their order, and never key the query string', async () => {
    const url = await start()
    const client = servers.issuer.clients.basic
    const read = await requestToken(url, { client, scope: 'read' })
    const both = await requestToken(url, { client, scope: 'read write' })
    const bothAgain = await requestToken(url, { client, scope: 'write read' })
    // oidc-provider reads the scope from the body only: this client gets its default scope, and
    // the proxy neither caches it nor answers it from the `read` key.
    const queried = await requestToken(url, { client, queryScope: 'read' })
    const readAgain = await requestToken(url, { client, scope: 'read' })

    expect(claimsOf(read.body.access_token).scope).toBe('read')
    expect(claimsOf(both.body.access_token).scope).toBe('read write')
    expect(bothAgain.body.access_token).toBe(both.body.access_token)
    expect(queried.headers.get('cache-status')).toBe('tokenstash; fwd=bypass')
    expect(queried.body.access_token).not.toBe(read.body.access_token)
    expect(readAgain.body.access_token).toBe(read.body.access_token)
    expect(await servers.issuer.tokenRequests()).toBe(3)
  })

  it('should serve an Auth0-style JSON request with an audience, on Auth0’s path', async () => {
    const url = await start()
    const call = {
      client: servers.issuer.clients.post,
      json: { audience: servers.issuer.audience },
      path: '/oauth/token',
    }
    const miss = await requestToken(url, call)
    const hit = await requestToken(url, call)

    expect(miss.status).toBe(200)
    expect(claimsOf(miss.body.access_token)).toMatchObject({ aud: servers.issuer.audience })
    expect(hit.headers.get('cache-status')).toBe('tokenstash; hit')
    expect(hit.body.access_token).toBe(miss.body.access_token)
    expect(await servers.issuer.tokenRequests()).toBe(1)
  })

  it('should pass upstream errors through with status, body and Retry-After, and cache none', async () => {
    const url = await start({ retry: { retries: 0 } })
    const client = servers.issuer.clients.basic

    const scope = await requestToken(url, { client, scope: servers.issuer.forbiddenScope })
    const scopeAgain = await requestToken(url, { client, scope: servers.issuer.forbiddenScope })
    expect([scope.status, scopeAgain.status]).toEqual([400, 400])
    expect(scopeAgain.body).toMatchObject({ error: 'invalid_scope' })

    const failure = { error: 'server_error', error_description: 'upstream broke' }
    await servers.issuer.failNext(1, { status: 500, body: failure })
    const broken = await requestToken(url, { client })
    expect(broken.status).toBe(500)
    expect(broken.body).toEqual(failure)
    const healed = await requestToken(url, { client })
    expect(healed.status).toBe(200)
    expect(healed.headers.get('cache-status')).toBe('tokenstash; fwd=miss')

    await servers.issuer.failNext(1, { status: 429, retryAfterSeconds: 30 })
    const limited = await requestToken(url, { client, scope: 'write' })
    expect(limited.status).toBe(429)
    expect(limited.headers.get('retry-after')).toBe('30')
    expect(limited.body).toMatchObject({ error: 'temporarily_unavailable' })
    // The Retry-After is honoured: the next request for that key does not reach the server.
    const backedOff = await requestToken(url, { client, scope: 'write' })
    expect(backedOff.status).toBe(503)
    expect(Number(backedOff.headers.get('retry-after'))).toBeGreaterThan(25)
    expect(backedOff.body).toMatchObject({ error: 'temporarily_unavailable' })

    expect(await servers.issuer.tokenRequests()).toBe(5)
  })

  it('should answer a burst of invalid_client from a short negative cache', async () => {
    const url = await start({ negativeTtlMs: 5_000 })
    const call = { client: servers.issuer.clients.basic, secret: 'not-the-secret' }
    const replies = [await requestToken(url, call)]
    replies.push(...(await Promise.all(Array.from({ length: 20 }, () => requestToken(url, call)))))
    expect(replies.map((r) => r.status)).toEqual(replies.map(() => 401))
    expect(replies.every((r) => r.body.error === 'invalid_client')).toBe(true)
    expect(replies[1]!.headers.get('cache-status')).toBe('tokenstash; hit; detail=invalid_client')
    expect(await servers.issuer.tokenRequests()).toBe(1)

    offsetMs = 6_000
    const afterTtl = await requestToken(url, call)
    expect(afterTtl.headers.get('cache-status')).toBe('tokenstash; fwd=miss; fwd-status=401')
    expect(await servers.issuer.tokenRequests()).toBe(2)
  })

  it('should answer OAuth-style 5xx while the upstream is down or slow, serve what it has, and recover', async () => {
    const relay = await startRelay(servers.issuer.port)
    relays.push(relay)
    const upstream = `${relay.url}/token`
    const url = await start({ upstream, retry: { retries: 0 }, timeoutMs: 1_000 })
    const client = servers.issuer.clients.basic
    const cached = await requestToken(url, { client, scope: 'read' })
    expect(cached.status).toBe(200)

    await relay.down()
    const down = await requestToken(url, { client, scope: 'write' })
    expect(down.status).toBe(502)
    expect(down.body).toMatchObject({ error: 'temporarily_unavailable' })
    expect(down.headers.get('content-type')).toMatch(/^application\/json/)
    const stillCached = await requestToken(url, { client, scope: 'read' })
    expect(stillCached.body.access_token).toBe(cached.body.access_token)

    await relay.up()
    await servers.issuer.failNext(1, { status: 200, delayMs: 3_000 })
    const slow = await requestToken(url, { client, scope: 'write' })
    expect(slow.status).toBe(504)
    expect(slow.body).toMatchObject({ error: 'temporarily_unavailable' })

    const recovered = await requestToken(url, { client, scope: 'write' })
    expect(recovered.status).toBe(200)
    expect(claimsOf(recovered.body.access_token).scope).toBe('write')
  })

  it('should serve API Gateway v1, HTTP API v2 and Function URL events, base64 bodies included', async () => {
    const proxy = createTokenProxy({ upstream: servers.issuer.tokenEndpoint, hmacKey: randomKey(), now })
    const { clientId, clientSecret } = servers.issuer.clients.basic
    const authorization = `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`
    const form = 'application/x-www-form-urlencoded'
    const base64 = (text: string) => Buffer.from(text).toString('base64')

    // REST API (payload 1.0): header names as the client sent them, decoded query parameters.
    const v1 = (
      body: string,
      query: Record<string, string> | null = null,
    ): Partial<APIGatewayProxyEvent> => ({
      httpMethod: 'POST',
      path: '/oauth2/token',
      headers: { 'Content-Type': form, Authorization: authorization },
      multiValueHeaders: { 'Content-Type': [form], Authorization: [authorization] },
      queryStringParameters: query,
      multiValueQueryStringParameters:
        query && Object.fromEntries(Object.entries(query).map(([k, v]) => [k, [v]])),
      body: base64(body),
      isBase64Encoded: true,
    })
    const v2: Partial<APIGatewayProxyEventV2> = {
      version: '2.0',
      routeKey: 'POST /oauth2/token',
      rawPath: '/oauth2/token',
      rawQueryString: '',
      headers: { 'content-type': form, authorization },
      requestContext: {
        http: { method: 'POST', path: '/oauth2/token' },
      } as APIGatewayProxyEventV2['requestContext'],
      body: 'grant_type=client_credentials&scope=read',
      isBase64Encoded: false,
    }
    const functionUrl: Partial<LambdaFunctionURLEvent> = {
      ...v2,
      routeKey: '$default',
      requestContext: {
        domainName: 'abcdef.lambda-url.eu-west-1.on.aws',
        http: { method: 'POST', path: '/oauth2/token' },
      } as LambdaFunctionURLEvent['requestContext'],
      body: base64('scope=read&grant_type=client_credentials'),
      isBase64Encoded: true,
    }

    const miss = await proxy.lambdaHandler(v1('grant_type=client_credentials&scope=read'))
    const hits = [await proxy.lambdaHandler(v2), await proxy.lambdaHandler(functionUrl)]
    const other = await proxy.lambdaHandler(v1('grant_type=client_credentials', { scope: 'write' }))

    expect(miss).toMatchObject({ statusCode: 200, isBase64Encoded: false })
    expect(miss.headers['cache-status']).toBe('tokenstash; fwd=miss')
    const token = JSON.parse(miss.body).access_token
    expect(claimsOf(token).scope).toBe('read')
    for (const hit of hits) {
      expect(hit.headers['cache-status']).toBe('tokenstash; hit')
      expect(JSON.parse(hit.body).access_token).toBe(token)
    }
    expect(claimsOf(JSON.parse(other.body).access_token).scope).not.toBe('read')
    expect(await servers.issuer.tokenRequests()).toBe(2)

    const health = await proxy.lambdaHandler({
      ...functionUrl,
      rawPath: '/healthz',
      requestContext: { http: { method: 'GET' } },
    })
    expect([health.statusCode, JSON.parse(health.body).status]).toEqual([200, 'ok'])
    const get = await proxy.lambdaHandler({ ...v1(''), httpMethod: 'GET' })
    expect([get.statusCode, JSON.parse(get.body).error]).toEqual([405, 'invalid_request'])
  })

  it('should refuse bad requests over HTTP with OAuth errors and keep serving', async () => {
    const url = await start()
    const post = (body: string, type = 'application/x-www-form-urlencoded') =>
      fetch(`${url}/oauth2/token`, { method: 'POST', headers: { 'content-type': type }, body })
    const replies = [
      await post(`grant_type=client_credentials&scope=${'a'.repeat(20_000)}`),
      await post('{"grant_type":', 'application/json'),
      await post('scope=read'),
      await fetch(`${url}/oauth2/token`),
    ]
    expect(replies.map((r) => r.status)).toEqual([400, 400, 400, 405])
    for (const reply of replies) expect(await reply.json()).toMatchObject({ error: 'invalid_request' })
    expect((await requestToken(url, { client: servers.issuer.clients.basic })).status).toBe(200)
    expect(await servers.issuer.tokenRequests()).toBe(1)
  })
})
