import { createTokenProxy, type ProxyListener } from '@tokenstash/proxy'
import { type Issuer, startIssuer } from './support/issuer'
import { freePort } from './support/ports'
import { claimsOf, randomKey, requestToken, type TokenReply } from './support/proxy-client'

// The upstream dies for real: oidc-provider runs in its own process (startIssuer forks it) on a
// port chosen at run time, is killed with SIGKILL while clients are being answered and while one
// miss is in flight inside it, then is started again on the same port with the same clients.

const TIMEOUT_MS = 1_500
/**
 * Room for a loaded 2-core machine between "the proxy gave up" and "the client read the answer".
 * The bound is about hanging, not speed: the held answer would come after 20 s, and a proxy that
 * retried within the provider's default budget would take up to 15 s; TIMEOUT_MS + SLACK_MS (6.5 s)
 * is far from both.
 */
const SLACK_MS = 5_000

describe('@tokenstash/proxy when the upstream process is killed', () => {
  const issuers: Issuer[] = []
  let listener: ProxyListener | undefined

  afterAll(async () => {
    await listener?.close()
    // stop() is safe on a killed issuer; whatever failed above, no process outlives the suite.
    await Promise.all(issuers.map((i) => i.stop()))
  })

  it('should answer temporarily_unavailable within its timeout, keep serving hits, and recover on restart', async () => {
    const port = await freePort()
    const first = await startIssuer({ port, accessTokenTtlSeconds: 600 })
    issuers.push(first)
    const { basic } = first.clients
    const proxy = createTokenProxy({
      upstream: first.tokenEndpoint,
      hmacKey: randomKey(),
      timeoutMs: TIMEOUT_MS,
    })
    listener = await proxy.listen(0)
    const url = listener.url

    const cached = await requestToken(url, { client: basic, scope: 'read' })
    expect(cached.status).toBe(200)

    // Traffic: clients asking for the cached token the whole time, before, during and after.
    let running = true
    const hits: TokenReply[] = []
    const traffic = Array.from({ length: 4 }, async () => {
      while (running) hits.push(await requestToken(url, { client: basic, scope: 'read' }))
    })

    // A miss held inside the upstream (it answers after 20 s) when the process dies.
    await first.failNext(1, { status: 200, delayMs: 20_000 })
    const heldAt = Date.now()
    const held = requestToken(url, { client: basic, scope: 'write' }).then((reply) => ({
      reply,
      ms: Date.now() - heldAt,
    }))
    while ((await first.tokenRequestLog()).every((r) => r.status !== undefined))
      await new Promise((r) => setTimeout(r, 20))
    process.kill(first.pid, 'SIGKILL')
    await first.stop()

    const inFlight = await held
    expect([502, 503, 504]).toContain(inFlight.reply.status)
    expect(inFlight.reply.body).toMatchObject({ error: 'temporarily_unavailable' })
    expect(inFlight.reply.headers.get('content-type')).toMatch(/^application\/json/)
    expect(inFlight.ms).toBeLessThan(TIMEOUT_MS + SLACK_MS)

    // A miss while nothing listens: refused at once, answered at once.
    const deadAt = Date.now()
    const dead = await requestToken(url, { client: first.clients.post, scope: 'write' })
    expect(dead.status).toBe(502)
    expect(dead.body).toMatchObject({ error: 'temporarily_unavailable' })
    expect(Date.now() - deadAt).toBeLessThan(TIMEOUT_MS + SLACK_MS)

    // Same port, same clients: the keys that failed go through now, and are cached.
    const second = await startIssuer({
      port,
      accessTokenTtlSeconds: 600,
      clientSecrets: { basic: basic.clientSecret, post: first.clients.post.clientSecret },
    })
    issuers.push(second)
    const recovered = await requestToken(url, { client: basic, scope: 'write' })
    expect(recovered.status).toBe(200)
    expect(recovered.headers.get('cache-status')).toBe('tokenstash; fwd=miss')
    expect(claimsOf(recovered.body.access_token)).toMatchObject({ client_id: basic.clientId, scope: 'write' })
    const post = await requestToken(url, { client: first.clients.post, scope: 'write' })
    expect(post.status).toBe(200)
    const again = await requestToken(url, { client: basic, scope: 'write' })
    expect(again.headers.get('cache-status')).toBe('tokenstash; hit')
    expect(again.body.access_token).toBe(recovered.body.access_token)
    expect(await second.tokenRequests()).toBe(2)

    running = false
    await Promise.all(traffic)
    // Not one client of the cached token noticed: every answer was the cached token, from memory.
    expect(hits.length).toBeGreaterThan(0)
    expect(hits.every((h) => h.status === 200 && h.body.access_token === cached.body.access_token)).toBe(true)
    expect(new Set(hits.map((h) => h.headers.get('cache-status')))).toEqual(new Set(['tokenstash; hit']))
  })
})
