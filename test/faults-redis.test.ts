import { randomBytes } from 'node:crypto'
import { clientCredentials, createTokenProvider, type TokenEvent, type TokenSource } from '@tokenstash/core'
import { redisStore } from '@tokenstash/store-redis'
import Redis from 'ioredis'
import nock from 'nock'
import { type Issuer, startIssuer } from './support/issuer'
import { type RedisServer, startRedis } from './support/redis'

// redis-server dies while a fleet is in the middle of a cold burst, then comes back empty; and
// redis-server freezes (SIGSTOP), so every command hangs on an open connection, then thaws.

const INSTANCES = 30

let issuer: Issuer
let redis: RedisServer

beforeAll(async () => {
  nock.disableNetConnect()
  nock.enableNetConnect('127.0.0.1')
  ;[issuer, redis] = await Promise.all([startIssuer({ accessTokenTtlSeconds: 300 }), startRedis()])
}, 60_000)

afterAll(async () => {
  await Promise.all([issuer?.stop(), redis?.stop()])
  nock.enableNetConnect()
})

describe('a fleet sharing Redis when redis-server stops mid-burst', () => {
  it('should serve every caller, fetch at most once per instance, and use the store again after a restart', async () => {
    const { clientId, clientSecret } = issuer.clients.basic
    const encryptionKey = randomBytes(32).toString('base64')
    const namespace = `outage-${randomBytes(4).toString('hex')}`
    // The provider skips a failed store for DEFAULTS.storeRetryAfterMs; its clock is moved past
    // that instead of sleeping.
    let skew = 0
    const now = () => Date.now() + skew
    let killed: Promise<void> | undefined
    const events: TokenEvent[] = []
    // Settings from the README for Lambda: fail fast while disconnected, reconnect on their own.
    const clients = Array.from(
      { length: INSTANCES },
      () => new Redis(redis.url, { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: true }),
    )
    try {
      await Promise.all(clients.map((c) => c.connect()))
      const providers = clients.map((client) => {
        const real = clientCredentials({ tokenEndpoint: issuer.tokenEndpoint, clientId, clientSecret, now })
        // The lease winner's fetch stops redis-server first: the others are polling the store for
        // its token, and the winner will try to write it, both against a dead server.
        const source: TokenSource = {
          id: real.id,
          async fetchToken(signal) {
            killed ??= redis.kill()
            await killed
            return real.fetchToken(signal)
          },
        }
        return createTokenProvider({
          source,
          store: redisStore({ client }),
          encryptionKey,
          namespace,
          now,
          onEvent: (e) => events.push(e),
        })
      })
      await issuer.resetCounts()

      const results = await Promise.allSettled(providers.map((p) => p.getToken()))
      expect(killed).toBeDefined()
      expect(results.filter((r) => r.status === 'rejected')).toEqual([])
      const burstRequests = await issuer.tokenRequests()
      expect(burstRequests).toBeGreaterThanOrEqual(1)
      expect(burstRequests).toBeLessThanOrEqual(INSTANCES)
      expect(events.some((e) => e.type === 'store-error')).toBe(true)
      // Warm instances keep serving from memory while the store is down.
      const again = await Promise.all(providers.map((p) => p.getToken()))
      expect(again).toEqual(results.map((r) => (r as PromiseFulfilledResult<string>).value))
      expect(await issuer.tokenRequests()).toBe(burstRequests)

      await redis.restart()
      await Promise.all(
        clients.map(async (c) => {
          while (c.status !== 'ready') await new Promise((r) => setTimeout(r, 20))
        }),
      )
      skew += 6_000

      // One instance replaces its token: it writes the store again, and a new instance reads it.
      const recovered = providers[0]!
      const fresh = await recovered.getToken({ forceRefresh: true })
      expect(events.some((e) => e.type === 'store-recovered')).toBe(true)
      const raw = await clients[1]!.get(`tokenstash:{${recovered.key}}`)
      expect(raw).toEqual(expect.any(String))
      expect(raw).not.toContain(fresh)

      const newcomerClient = new Redis(redis.url)
      clients.push(newcomerClient)
      const newcomer = createTokenProvider({
        source: clientCredentials({ tokenEndpoint: issuer.tokenEndpoint, clientId, clientSecret, now }),
        store: redisStore({ client: newcomerClient }),
        encryptionKey,
        namespace,
        now,
      })
      const before = await issuer.tokenRequests()
      expect(await newcomer.getToken()).toBe(fresh)
      expect(await issuer.tokenRequests()).toBe(before)
      expect(newcomer.stats()).toMatchObject({ l2Hits: 1, fetches: 0 })

      // Nothing the fleet reported holds a token or the secret.
      const text = JSON.stringify(events)
      for (const s of [clientSecret, fresh, ...again]) expect(text).not.toContain(s)
    } finally {
      for (const c of clients) c.disconnect()
    }
  })
})

describe('a fleet sharing Redis when redis-server hangs', () => {
  it('should bound every store call by storeTimeoutMs, serve from memory or the endpoint, and recover', async () => {
    const { clientId, clientSecret } = issuer.clients.basic
    const encryptionKey = randomBytes(32).toString('base64')
    const namespace = `hang-${randomBytes(4).toString('hex')}`
    let skew = 0
    const now = () => Date.now() + skew
    const events: TokenEvent[] = []
    // ioredis defaults: no command timeout, so a frozen server leaves every command pending.
    const clients: Redis[] = []
    const instance = () => {
      const client = new Redis(redis.url)
      clients.push(client)
      return createTokenProvider({
        source: clientCredentials({ tokenEndpoint: issuer.tokenEndpoint, clientId, clientSecret, now }),
        store: redisStore({ client }),
        encryptionKey,
        namespace,
        now,
        storeTimeoutMs: 300,
        onEvent: (e) => events.push(e),
      })
    }
    try {
      const warm = Array.from({ length: 5 }, instance)
      await issuer.resetCounts()
      const stored = await Promise.all(warm.map((p) => p.getToken()))
      expect(new Set(stored).size).toBe(1)
      expect(await issuer.tokenRequests()).toBe(1)
      const cold = Array.from({ length: 10 }, instance)
      await Promise.all(clients.map((c) => c.ping()))

      redis.pause()
      try {
        // Warm instances answer from memory without touching the store.
        expect(await Promise.all(warm.map((p) => p.getToken()))).toEqual(stored)
        // Cold ones find the store hanging, give up on it after storeTimeoutMs, and fetch.
        const results = await Promise.allSettled(cold.map((p) => p.getToken()))
        expect(results.filter((r) => r.status === 'rejected')).toEqual([])
        const requests = await issuer.tokenRequests()
        expect(requests).toBeGreaterThan(1)
        expect(requests).toBeLessThanOrEqual(1 + cold.length)
        const timeouts = events.filter((e) => e.type === 'store-error')
        expect(timeouts.length).toBeGreaterThan(0)
        expect(timeouts.every((e) => e.message?.includes('storeTimeoutMs'))).toBe(true)
      } finally {
        redis.resume()
      }

      // Thawed: the commands that hung are answered, and the store is used again once the
      // provider's back-off (DEFAULTS.storeRetryAfterMs) is over.
      await Promise.all(clients.map((c) => c.ping()))
      skew += 6_000
      const refreshed = await cold[0]!.getToken({ forceRefresh: true })
      expect(events.some((e) => e.type === 'store-recovered')).toBe(true)
      const newcomer = instance()
      const before = await issuer.tokenRequests()
      expect(await newcomer.getToken()).toBe(refreshed)
      expect(await issuer.tokenRequests()).toBe(before)
      expect(newcomer.stats()).toMatchObject({ l2Hits: 1, fetches: 0 })
      const text = JSON.stringify(events)
      for (const s of [clientSecret, refreshed, ...stored]) expect(text).not.toContain(s)
    } finally {
      redis.resume()
      for (const c of clients) c.disconnect()
    }
  })
})
