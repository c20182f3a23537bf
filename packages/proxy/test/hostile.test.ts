import { randomBytes } from 'node:crypto'
import { Socket } from 'node:net'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { memoryStore, type TokenStore } from '@tokenstash/core'
import { KEY_ATTRIBUTE, otelMetrics } from '@tokenstash/otel'
import type { LambdaHttpEvent, TokenProxyOptions } from '@tokenstash/proxy'
import { sdk } from '../../otel/test/reader'
import { expiresIn } from '../src/responses'
import { proxyOnClock, T0, tokenRequestEvent } from './harness'

// The proxy before hostile clients (issue 17): each test here failed on the proxy as it was.
// The upstream is a function standing in for fetch that reads what an RFC 6749 server reads: the
// form body (never the query string), Basic or body credentials.

const UPSTREAM = 'https://idp.example.com/oauth2/token'
const SECRET = 'p@ss w0rd/x'
const BASIC = `Basic ${Buffer.from(`svc:${encodeURIComponent(SECRET)}`).toString('base64')}`

interface Call {
  url: string
  body: string
}

/** An RFC 6749 token endpoint: grants the body's scope (or `default`), refuses unknown clients. */
function rfc6749Upstream(
  options: { lifetime?: number; refuse?: (body: URLSearchParams) => boolean; record?: boolean } = {},
) {
  const calls: Call[] = []
  let n = 0
  const upstreamFetch = (async (input: string | URL | Request, init?: RequestInit) => {
    const body = Buffer.from(init?.body as Uint8Array).toString('utf8')
    if (options.record !== false) calls.push({ url: String(input), body })
    const form = new URLSearchParams(body)
    const json = (status: number, value: unknown) =>
      new Response(JSON.stringify(value), { status, headers: { 'content-type': 'application/json' } })
    const headers = new Headers(init?.headers)
    if (!headers.get('authorization') && !form.get('client_secret'))
      return json(401, { error: 'invalid_client' })
    if (options.refuse?.(form)) return json(401, { error: 'invalid_client' })
    const scope = form.get('scope') ?? 'default'
    if (/[^\x21-\x7e ]/.test(scope)) return json(400, { error: 'invalid_scope' })
    const audience = form.get('audience')
    return json(200, {
      access_token: `tok-${++n}-${scope.replace(/ /g, '_')}${audience ? `-${audience}` : ''}`,
      token_type: 'Bearer',
      expires_in: options.lifetime ?? 3600,
      scope,
    })
  }) as typeof fetch
  return { fetch: upstreamFetch, calls }
}

function setup(upstream = rfc6749Upstream(), options: Partial<TokenProxyOptions> = {}) {
  return { ...proxyOnClock(UPSTREAM, { fetch: upstream.fetch, ...options }), calls: upstream.calls }
}

const event = (body: string, overrides: Partial<LambdaHttpEvent> = {}) =>
  tokenRequestEvent(BASIC, body, overrides)

async function ask(proxy: ReturnType<typeof setup>['proxy'], req: LambdaHttpEvent) {
  const res = await proxy.lambdaHandler(req)
  return { status: res.statusCode, cache: res.headers['cache-status'], body: JSON.parse(res.body) }
}

describe('createTokenProxy before hostile clients', () => {
  it('should never answer a body scope from a key poisoned through the query string (defect 1)', async () => {
    const { proxy, calls } = setup()
    // The upstream reads the body only: this client gets the default scope.
    await ask(proxy, event('grant_type=client_credentials', { rawQueryString: 'scope=admin' }))
    const admin = await ask(proxy, event('grant_type=client_credentials&scope=admin'))
    expect(admin.body.scope).toBe('admin')
    expect(calls).toHaveLength(2)
  })

  it('should never answer a JSON audience from a key poisoned through the query string (defect 1)', async () => {
    const upstream = rfc6749Upstream()
    const jsonFetch = (async (input: string | URL | Request, init?: RequestInit) => {
      // Auth0-style: JSON body, the query string ignored.
      const json = JSON.parse(Buffer.from(init?.body as Uint8Array).toString('utf8'))
      return upstream.fetch(input, { ...init, body: Buffer.from(new URLSearchParams(json).toString()) })
    }) as typeof fetch
    const { proxy } = setup({ fetch: jsonFetch, calls: upstream.calls })
    const headers = { 'content-type': 'application/json', authorization: BASIC }
    await ask(
      proxy,
      event(JSON.stringify({ grant_type: 'client_credentials' }), {
        headers,
        rawQueryString: 'audience=bank',
      }),
    )
    const bank = await ask(
      proxy,
      event(JSON.stringify({ grant_type: 'client_credentials', audience: 'bank' }), { headers }),
    )
    expect(bank.body.access_token).toMatch(/-bank$/)
  })

  it('should never answer a body scope from a key poisoned through queryStringParameters (defect 1)', async () => {
    const { proxy } = setup()
    const v1 = (body: string, query: Record<string, string> | null): LambdaHttpEvent => ({
      httpMethod: 'POST',
      path: '/oauth2/token',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: BASIC },
      queryStringParameters: query,
      body,
    })
    await ask(proxy, v1('grant_type=client_credentials', { scope: 'admin' }))
    const admin = await ask(proxy, v1('grant_type=client_credentials&scope=admin', null))
    expect(admin.body.scope).toBe('admin')
  })

  it('should split scopes on the space character only (defect 2)', async () => {
    const { proxy, calls } = setup()
    const good = await ask(proxy, event('grant_type=client_credentials&scope=read+write'))
    expect(good.status).toBe(200)
    for (const separator of ['%C2%A0', '%09', '%E2%80%83', '%0A']) {
      const odd = await ask(proxy, event(`grant_type=client_credentials&scope=read${separator}write`))
      expect([odd.status, odd.body.error]).toEqual([400, 'invalid_scope'])
    }
    expect(calls).toHaveLength(5)
  })

  it('should not let rejected requests evict a good client’s token (defect 3)', async () => {
    const { proxy, calls } = setup(rfc6749Upstream({ refuse: (form) => form.get('client_id') !== null }), {
      maxKeys: 10,
      negativeTtlMs: 0,
    })
    const good = event('grant_type=client_credentials&scope=read')
    expect((await ask(proxy, good)).cache).toBe('tokenstash; fwd=miss')
    for (let i = 0; i < 30; i++) {
      const bogus = await ask(
        proxy,
        event(`grant_type=client_credentials&client_id=bogus-${i}&client_secret=x${i}`, {
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
        }),
      )
      expect(bogus.status).toBe(401)
    }
    expect((await ask(proxy, good)).cache).toBe('tokenstash; hit')
    expect(calls).toHaveLength(31)
  })

  it('should keep nothing of rejected requests: no memory (defect 4), no events (defect 11)', async () => {
    setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as () => void
    const { proxy, events } = setup(rfc6749Upstream({ refuse: () => true, record: false }), {
      negativeTtlMs: 0,
      maxBodyBytes: 64 * 1024,
    })
    const send = (i: number) =>
      proxy.lambdaHandler(
        // Unique strings: V8 would share the bytes of repeated ones, and hide what is kept.
        event(`grant_type=client_credentials&client_secret=s${i}&pad=${randomBytes(7_500).toString('hex')}`, {
          headers: {
            'content-type': 'application/x-www-form-urlencoded',
            'x-junk': randomBytes(4_000).toString('hex'),
          },
        }),
      )
    await send(-1)
    for (let round = 0; round < 3; round++) {
      gc()
      await new Promise((resolve) => setImmediate(resolve))
    }
    // Bodies are Buffers, outside the V8 heap: both count.
    const used = () => process.memoryUsage().heapUsed + process.memoryUsage().external
    const before = used()
    for (let i = 0; i < 300; i++) expect((await send(i)).statusCode).toBe(401)
    // Collected once what the requests left behind is unreachable (a few turns of the loop).
    for (let round = 0; round < 3; round++) {
      gc()
      await new Promise((resolve) => setImmediate(resolve))
    }
    const retained = used() - before
    // 300 requests of 23 KB: 6.9 MB if any part of them stayed.
    expect(retained).toBeLessThan(1_500_000)
    expect(events.filter((e) => e.type !== 'hit-memory')).toEqual([])
  })

  it('should never send an aborted request body upstream (defect 8)', async () => {
    const { proxy, calls } = setup()
    const listener = await proxy.listen(0)
    try {
      const { port } = new URL(listener.url)
      const body = 'grant_type=client_credentials&scope=read&padding=' + 'x'.repeat(85)
      const socket = new Socket()
      await new Promise<void>((resolve) => socket.connect(Number(port), '127.0.0.1', resolve))
      const closed = new Promise((resolve) => socket.once('close', resolve))
      socket.write(
        `POST /oauth2/token HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-www-form-urlencoded\r\n` +
          `authorization: ${BASIC}\r\ncontent-length: ${body.length}\r\n\r\n${body.slice(0, 85)}`,
      )
      await new Promise((resolve) => setImmediate(resolve))
      socket.resetAndDestroy()
      await closed
      // A whole request after it: by its answer, the aborted one would have gone upstream too.
      const res = await fetch(`${listener.url}/oauth2/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: BASIC },
        body: 'grant_type=client_credentials&scope=whole',
      })
      expect(res.status).toBe(200)
      expect(calls.map((c) => c.body)).toEqual(['grant_type=client_credentials&scope=whole'])
    } finally {
      await listener.close()
    }
  })

  it('should never overstate expires_in: whole seconds left, rounded down (defect 9)', () => {
    const set = { accessToken: 'a', tokenType: 'Bearer', expiresAt: T0 + 667 } as Parameters<
      typeof expiresIn
    >[0]
    expect(expiresIn(set, T0)).toBe(0)
    expect(expiresIn({ ...set, expiresAt: T0 + 2_999 }, T0)).toBe(2)
  })

  it('should probe on /healthz a key the proxy really uses, under a policy allowing only its keys (defect 10)', async () => {
    const inner = memoryStore()
    const allowed = (key: string) => key.startsWith('proxy-ns:')
    const deny = (key: string) => (allowed(key) ? undefined : Promise.reject(new Error('AccessDenied')))
    const store: TokenStore = {
      ...inner,
      get: (key, ...rest) => deny(key) ?? inner.get(key, ...rest),
      set: (key, ...rest) => deny(key) ?? inner.set(key, ...rest),
    }
    const { proxy } = setup(undefined, { store, encryption: false, namespace: 'proxy-ns' })
    expect((await ask(proxy, event('grant_type=client_credentials'))).status).toBe(200)
    const health = { requestContext: { http: { method: 'GET' } }, version: '2.0', rawPath: '/healthz' }
    expect(JSON.parse((await proxy.lambdaHandler(health)).body).store).toBe('reachable')
  })

  it('should answer a redirect from the upstream with 502 and never pass it on (3xx)', async () => {
    const fetch = (async () =>
      new Response(null, {
        status: 302,
        headers: { location: 'https://elsewhere.example/' },
      })) as typeof globalThis.fetch
    const { proxy } = setup({ fetch, calls: [] })
    const res = await proxy.lambdaHandler(event('grant_type=client_credentials'))
    expect(res.statusCode).toBe(502)
    expect(JSON.parse(res.body)).toMatchObject({ error: 'temporarily_unavailable' })
    expect(res.headers.location).toBeUndefined()
  })

  it('should create no metric series for clients the upstream refuses (defect 11)', async () => {
    const otel = sdk()
    const { proxy } = setup(rfc6749Upstream({ refuse: (form) => form.get('client_id') !== null }), {
      negativeTtlMs: 0,
      onEvent: otelMetrics({ meter: otel.meter }),
    })
    const form = { 'content-type': 'application/x-www-form-urlencoded' }
    for (let i = 0; i < 50; i++) {
      const made = event(`grant_type=client_credentials&client_id=made-up-${i}&client_secret=x`, {
        headers: form,
      })
      expect((await proxy.lambdaHandler(made)).statusCode).toBe(401)
    }
    expect((await ask(proxy, event('grant_type=client_credentials'))).status).toBe(200)
    const recorded = await otel.collect()
    const keys = new Set(
      Object.values(recorded).flatMap((points) => points.map((p) => p.attributes[KEY_ATTRIBUTE])),
    )
    // The legitimate client's series only.
    expect(keys.size).toBe(1)
    await otel.shutdown()
  })

  it('should write no log line for refused clients, and one per store outage for all keys together', async () => {
    const lines: string[] = []
    const fail = () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:6379'))
    const down: TokenStore = { get: fail, set: fail, delete: fail, acquireLease: fail, releaseLease: fail }
    const { proxy } = setup(rfc6749Upstream({ refuse: (form) => form.get('client_id') !== null }), {
      negativeTtlMs: 0,
      store: down,
      encryptionKey: randomBytes(32),
      logger: { warn: (line) => lines.push(line), info: (line) => lines.push(line) },
    })
    const form = { 'content-type': 'application/x-www-form-urlencoded' }
    for (let i = 0; i < 50; i++) {
      const made = event(`grant_type=client_credentials&client_id=made-up-${i}&client_secret=x`, {
        headers: form,
      })
      expect((await proxy.lambdaHandler(made)).statusCode).toBe(401)
    }
    // Nothing a client sends before the upstream accepts it writes a line, even about the store.
    expect(lines).toEqual([])
    // 20 accepted keys during one outage: one line, not one per key.
    for (let i = 0; i < 20; i++)
      expect((await ask(proxy, event(`grant_type=client_credentials&scope=s${i}`))).status).toBe(200)
    expect(lines).toEqual([
      expect.stringMatching(/^tokenstash: the shared store is failing \(.*ECONNREFUSED/),
    ])
  })

  it('should close every connection at the drain deadline, half-sent requests included (defect 5)', async () => {
    const { proxy } = setup()
    const listener = await proxy.listen(0)
    const { port } = new URL(listener.url)
    const sockets = await Promise.all(
      [
        'POST /oauth2/token HTTP/1.1\r\nhost: x\r\ncontent-ty',
        'POST / HTTP/1.1\r\ncontent-length: 135\r\n\r\ngrant',
      ].map(async (text) => {
        const socket = new Socket()
        await new Promise<void>((resolve) => socket.connect(Number(port), '127.0.0.1', resolve))
        socket.on('error', () => undefined)
        socket.write(text)
        return socket
      }),
    )
    const closed = sockets.map((socket) => new Promise((resolve) => socket.once('close', resolve)))
    // On the old close() this never resolved: server.close() waits for connections nobody ends.
    expect(await listener.close({ drainTimeoutMs: 200 })).toEqual({ drained: false })
    await Promise.all(closed)
    const idle = await proxy.listen(0)
    expect(await idle.close({ drainTimeoutMs: 60_000 })).toEqual({ drained: true })
  })
})
