import { randomBytes } from 'node:crypto'
import { Agent, ClientRequest } from 'node:http'
import { Socket } from 'node:net'
import middy from '@middy/core'
import { attachToken } from '@tokenstash/axios'
import { clientCredentials, createTokenProvider, type TokenProvider, type TokenStore } from '@tokenstash/core'
import { m2mToken } from '@tokenstash/middy'
import { dynamoDbStore } from '@tokenstash/store-dynamodb'
import { redisStore } from '@tokenstash/store-redis'
import type { Context } from 'aws-lambda'
import axios, { type AxiosInstance } from 'axios'
import { invoke, lambdaContext } from '../../packages/middy/test/lambda'
import type { Issuer } from '../support/issuer'
import {
  type Capture,
  captureAll,
  expectNoLeak,
  type RecordingStore,
  recordingStore,
  scenarioResults,
} from '../support/reliability'
import { useServers } from '../support/servers'

// Every integration path (core with Redis and DynamoDB, axios against a protected API, Middy), run
// with its faults, while every console line, event, thrown error and store write is captured. No
// access token, client secret, private key or encryption key may appear in any of them, nor in
// any store key; errors are read as a logger would (JSON, util.inspect at depth 12, toJSON()).

const TABLE = 'leak-scan-tokens'
const encryptionKey = randomBytes(32).toString('base64')
const results = scenarioResults('leak-scan')

const servers = useServers({
  issuer: { accessTokenTtlSeconds: 300 },
  redis: true,
  dynamo: { tables: [TABLE] },
  api: true,
  tcpProxy: 'redis',
})
let capture: Capture
const stores: RecordingStore[] = []
const tokens = new Set<string>()
let attempts = 0

beforeAll(() => {
  capture = captureAll()
})

afterAll(() => capture?.restore())

function redisBacked(): RecordingStore {
  const client = servers.redisClient({
    port: servers.tcpProxy.port,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
  })
  client.on('error', (err) => console.error('redis client error', err))
  const store = recordingStore(redisStore({ client }))
  stores.push(store)
  return store
}

function dynamoBacked(): RecordingStore {
  const client = servers.dynamoClient()
  const store = recordingStore(dynamoDbStore({ client, tableName: TABLE }))
  stores.push(store)
  return store
}

type ClientName = keyof Issuer['clients']

function provider(client: ClientName, store?: TokenStore, secretOverride?: string): TokenProvider {
  const c = servers.issuer.clients[client]
  const source =
    c.authMethod === 'private_key_jwt'
      ? clientCredentials({
          tokenEndpoint: servers.issuer.tokenEndpoint,
          clientId: c.clientId,
          privateKey: c.privateJwk,
          authMethod: 'private_key_jwt',
        })
      : clientCredentials({
          tokenEndpoint: servers.issuer.tokenEndpoint,
          clientId: c.clientId,
          clientSecret: secretOverride ?? c.clientSecret,
          authMethod: c.authMethod,
        })
  return createTokenProvider({
    source,
    store,
    encryptionKey: store ? encryptionKey : undefined,
    namespace: `leak-${randomBytes(3).toString('hex')}`,
    retry: { retries: 1, minTimeoutMs: 10, maxTimeoutMs: 20 },
    storeTimeoutMs: 500,
    onEvent: (e) => {
      capture.onEvent(e)
      // A logger that prints every event, as an onEvent hook in production would.
      console.info('tokenstash event', e)
    },
  })
}

async function attempt<T>(fn: () => Promise<T>): Promise<T | undefined> {
  attempts++
  try {
    return await fn()
  } catch (err) {
    capture.errors.push(err)
    console.error('request failed', err)
    return undefined
  }
}

/** Every object reachable from `root` through own properties (symbols too), up to `depth`. */
function reachable(root: unknown, depth = 12): unknown[] {
  const out: unknown[] = []
  const seen = new Set<unknown>()
  const walk = (v: unknown, d: number) => {
    if (v === null || typeof v !== 'object' || seen.has(v) || d > depth) return
    seen.add(v)
    out.push(v)
    for (const key of Reflect.ownKeys(v)) {
      const desc = Object.getOwnPropertyDescriptor(v, key)
      if (desc && 'value' in desc) walk(desc.value, d + 1)
    }
  }
  walk(root, 0)
  return out
}

describe('a leak scan over every integration path', () => {
  it('should keep secrets out of core providers sharing Redis and DynamoDB, through store and endpoint faults', async () => {
    for (const store of [redisBacked(), dynamoBacked()]) {
      for (const name of ['basic', 'post', 'privateKeyJwt'] as const) {
        const fleet = [provider(name, store), provider(name, store)]
        for (const p of fleet) {
          const t = await attempt(() => p.getToken())
          if (t) tokens.add(t)
        }
        const again = await attempt(() => fleet[0]!.getToken({ forceRefresh: true }))
        if (again) tokens.add(again)
        if (again) await attempt(() => fleet[1]!.invalidate(again))
      }
    }
    // Endpoint faults: a retried 503, a 429 that outlasts the retries, a wrong secret.
    await servers.issuer.failNext(1, { status: 503 })
    const t = await attempt(() => provider('basic', redisBacked()).getToken())
    if (t) tokens.add(t)
    await servers.issuer.failNext(2, { status: 429, retryAfterSeconds: 0 })
    await attempt(() => provider('post').getToken())
    await attempt(() =>
      provider('basic', undefined, `${servers.issuer.clients.basic.clientSecret}x`).getToken(),
    )
    // Store faults: Redis refused, then hanging.
    servers.tcpProxy.setAll('reset')
    const down = await attempt(() => provider('basic', redisBacked()).getToken())
    if (down) tokens.add(down)
    servers.tcpProxy.setAll('blackhole')
    const hung = await attempt(() => provider('post', redisBacked()).getToken())
    if (hung) tokens.add(hung)
    servers.tcpProxy.setAll('pass')
    expect(tokens.size).toBeGreaterThanOrEqual(8)
    expect(capture.errors.length).toBeGreaterThanOrEqual(2)
    expect(capture.events.some((e) => e.type === 'store-error')).toBe(true)
  })

  it('should keep secrets out of axios errors, and leave no live request reachable from them', async () => {
    // One keep-alive socket: after the first request fails, the socket carries the next one.
    const agent = new Agent({ keepAlive: true, maxSockets: 1 })
    const instances: AxiosInstance[] = []
    try {
      const clientsWithTokens = (['basic', 'post'] as const).map((name) => {
        const instance = axios.create({ baseURL: servers.api.url, httpAgent: agent })
        instances.push(instance)
        attachToken(instance, provider(name, redisBacked()), { retry: false })
        return instance
      })
      const [a, b] = clientsWithTokens as [AxiosInstance, AxiosInstance]
      await a.get('/orders/1')
      await b.get('/orders/2')
      for (const token of servers.api.tokensSeen()) servers.api.reject(token)
      // A 503 (not retried here), a connection dropped mid-request, a 401 for a revoked token on a
      // POST (not replayed), and then requests that replay with a fresh token.
      servers.api.failNext(1, { status: 503 })
      await attempt(() => a.get('/orders/3'))
      servers.api.failNext(1, { destroy: true })
      await attempt(() => b.get('/orders/4'))
      await attempt(() => a.post('/orders', { item: 'x' }))
      await attempt(() => b.post('/orders', { item: 'y' }))
      await attempt(() => a.get('/orders/5'))
      await attempt(() => b.get('/orders/6'))
      for (const token of servers.api.tokensSeen()) tokens.add(token)
      const axiosErrors = capture.errors.filter((e) => axios.isAxiosError(e))
      expect(axiosErrors.length).toBeGreaterThanOrEqual(3)
      for (const error of axiosErrors) {
        const live = reachable(error).filter((v) => v instanceof ClientRequest || v instanceof Socket)
        expect(live).toEqual([])
        expect(error.request).toEqual({
          method: expect.any(String),
          origin: servers.api.url,
          path: expect.any(String),
        })
      }
    } finally {
      agent.destroy()
    }
  })

  it('should keep secrets out of the Middy middleware, its errors and the handler logs', async () => {
    const good = provider('basic', dynamoBacked())
    const bad = provider('post', undefined, 'not-the-secret-of-post-client')
    const handler = middy(async (_event: unknown, context: Context & { ordersApiToken: string }) => {
      console.log('handler ran with a token of length', context.ordersApiToken.length)
      return 'ok'
    }).use(m2mToken({ fetchData: { ordersApiToken: good } }))
    const broken = middy(async () => 'never').use(m2mToken({ fetchData: { ordersApiToken: bad } }))
    expect(await invoke(handler, {}, lambdaContext())).toBe('ok')
    await attempt(() => invoke(broken, {}, lambdaContext()))
    tokens.add(await good.getToken())
    expect(capture.errors.length).toBeGreaterThan(0)
  })

  it('should find no secret in any log line, event, error view, store key or store value', async () => {
    capture.restore()
    const { clients } = servers.issuer
    const secrets = [
      ...tokens,
      clients.basic.clientSecret,
      clients.post.clientSecret,
      clients.privateKeyJwt.privateJwk.d!,
      encryptionKey,
    ]
    const written = stores.flatMap((s) => s.written)
    const haystacks = [...capture.texts(), ...written]
    results.record({
      scenario: 'Leak scan',
      fault: 'core (Redis, DynamoDB), axios and Middy paths with endpoint, store and API faults',
      invocations: attempts,
      failed: capture.errors.length,
      tokenRequests: await servers.issuer.tokenRequests(),
      recoveryMs: null,
      badTokensServed: 0,
      notes: `${tokens.size} tokens and 4 other secrets searched in ${capture.lines.length} console lines, ${capture.events.length} events, ${capture.errors.length} errors (3 views each) and ${written.length} store keys/values: 0 found`,
    })
    expect(tokens.size).toBeGreaterThanOrEqual(10)
    expect(capture.lines.length).toBeGreaterThan(10)
    expect(written.length).toBeGreaterThan(20)
    expectNoLeak(haystacks, secrets)
  })
})
