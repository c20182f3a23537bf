import { createServer } from 'node:http'
import middy from '@middy/core'
import { attachToken } from '@tokenstash/axios'
import { RateLimitedError, TokenEndpointError } from '@tokenstash/core'
import { fakeTokenProvider } from '@tokenstash/core/testing'
import { withToken } from '@tokenstash/fetch'
import { m2mToken } from '@tokenstash/middy'
import type { Context } from 'aws-lambda'
import axios from 'axios'
import { invoke, lambdaContext } from '../packages/middy/test/lambda'
import { type LoopbackListener, listenOnLoopback } from './support/ports'
import { useServers } from './support/servers'

// fakeTokenProvider in the three adapters, the way a user's handler test would use it: the
// adapters see a TokenProvider and cannot tell it from a real one.

type Ctx = Context & { ordersApiToken: string }

describe('fakeTokenProvider', () => {
  let api: LoopbackListener
  let url: string
  /** The API accepts only `Bearer good`; it records the Authorization header of each request. */
  const seen: (string | undefined)[] = []

  useServers({})
  beforeAll(async () => {
    api = await listenOnLoopback(
      createServer((req, res) => {
        seen.push(req.headers.authorization)
        const ok = req.headers.authorization === 'Bearer good'
        res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ ok }))
      }),
    )
    url = `http://127.0.0.1:${api.port}`
  })
  afterAll(() => api.stop())
  beforeEach(() => {
    seen.length = 0
  })

  it('should put its token on a Middy handler context through m2mToken, and record the calls', async () => {
    const orders = fakeTokenProvider({ token: 'test-token' })
    const handler = middy(async (_event: unknown, context: Ctx) => context.ordersApiToken).use(
      m2mToken({ fetchData: { ordersApiToken: orders }, disablePrefetch: true }),
    )
    expect(await invoke(handler, {}, lambdaContext())).toBe('test-token')
    expect(await invoke(handler, {}, lambdaContext())).toBe('test-token')
    expect(orders.calls.map((c) => c.method)).toEqual(['getToken', 'getToken'])
  })

  it('should fail a Middy handler with the typed error it was given', async () => {
    const retryAt = Date.now() + 60_000
    const orders = fakeTokenProvider({
      fail: new RateLimitedError('slow down', {
        endpoint: 'https://idp.invalid/token',
        retryable: true,
        retryAt,
      }),
    })
    const handler = middy(async (_event: unknown, context: Ctx) => context.ordersApiToken).use(
      m2mToken({ fetchData: { ordersApiToken: orders }, disablePrefetch: true }),
    )
    await expect(invoke(handler, {}, lambdaContext())).rejects.toMatchObject({
      code: 'ERR_RATE_LIMITED',
      retryAt,
    })
    orders.fail = undefined
    expect(await invoke(handler, {}, lambdaContext())).toBe('fake-token')
    const failing = fakeTokenProvider({ fail: true })
    await expect(failing.getToken()).rejects.toBeInstanceOf(TokenEndpointError)
    await expect(failing.getToken()).rejects.toMatchObject({ error: 'invalid_client' })
  })

  it('should work with attachToken: a 401 invalidates the first token and the replay sends the next', async () => {
    const orders = fakeTokenProvider({ tokens: ['stale', 'good'] })
    const client = axios.create({ baseURL: url })
    attachToken(client, orders, { retry: false })
    const res = await client.get('/orders/1')
    expect(res.data).toEqual({ ok: true })
    expect(seen).toEqual(['Bearer stale', 'Bearer good'])
    expect(orders.calls.filter((c) => c.method === 'invalidate')).toEqual([
      { method: 'invalidate', rejectedToken: 'stale' },
    ])
  })

  it('should work with withToken: the token goes to the listed origin only', async () => {
    const orders = fakeTokenProvider({ tokens: ['stale', 'good'] })
    const apiFetch = withToken(fetch, orders, { origins: [url] })
    const res = await apiFetch(`${url}/orders/1`)
    expect(res.status).toBe(200)
    expect(seen).toEqual(['Bearer stale', 'Bearer good'])
    expect(orders.calls.filter((c) => c.method === 'invalidate')).toEqual([
      { method: 'invalidate', rejectedToken: 'stale' },
    ])
  })

  it('should be a whole TokenProvider: token sets, peek, stats, key, forceRefresh', async () => {
    let t = 1_000
    const fake = fakeTokenProvider({
      tokens: ['a', 'b', 'c'],
      lifetimeMs: 60_000,
      now: () => t,
      key: 'test:orders',
    })
    expect(fake.key).toBe('test:orders')
    expect(fake.peekTokenSet()).toBeUndefined()
    expect(await fake.getTokenSet()).toEqual({
      accessToken: 'a',
      tokenType: 'Bearer',
      issuedAt: 1_000,
      expiresAt: 61_000,
    })
    t = 2_000
    expect(fake.peekTokenSet()?.accessToken).toBe('a')
    await fake.invalidate('not-the-current-one')
    expect(await fake.getToken()).toBe('a')
    expect(await fake.getToken({ forceRefresh: true })).toBe('b')
    await fake.invalidate()
    expect(await fake.getToken()).toBe('c')
    await fake.invalidate('c')
    expect(await fake.getToken()).toBe('c') // the last one stays
    expect(fake.stats()).toMatchObject({ fetches: 4, fetchErrors: 0 })
    expect(() => fakeTokenProvider({ tokens: [] })).toThrow('Expected `tokens`')
    expect(() => fakeTokenProvider({ toekn: 'x' } as never)).toThrow('did you mean `token`?')
  })
})
