import type { TokenSource } from '@tokenstash/core'
import { redisStore } from '@tokenstash/store-redis'
import type Redis from 'ioredis'
import { expectEveryCallerServed, expectServedFromStore, fleetTimeline } from './support/fleet'
import { useServers } from './support/servers'

// redis-server dies while a fleet is in the middle of a cold burst, then comes back empty; and
// redis-server freezes (SIGSTOP), so every command hangs on an open connection, then thaws.

const INSTANCES = 30

const servers = useServers({ issuer: { accessTokenTtlSeconds: 300 }, redis: true })

describe('a fleet sharing Redis when redis-server stops mid-burst', () => {
  it('should serve every caller, fetch at most once per instance, and use the store again after a restart', async () => {
    const { issuer, redis } = servers
    // The provider skips a failed store for DEFAULTS.storeRetryAfterMs; the fleet's clock is moved
    // past that instead of sleeping.
    const timeline = fleetTimeline(issuer, 'outage')
    const { events } = timeline
    let killed: Promise<void> | undefined
    // Settings from the README for Lambda: fail fast while disconnected, reconnect on their own.
    const clients = Array.from({ length: INSTANCES }, () =>
      servers.redisClient({ maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: true }),
    )
    try {
      await Promise.all(clients.map((c) => c.connect()))
      const providers = clients.map((client) => {
        const real = timeline.source()
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
        return timeline.instance(redisStore({ client }), { source })
      })
      await issuer.resetCounts()

      const { tokens, requests: burstRequests } = await expectEveryCallerServed(issuer, providers)
      expect(killed).toBeDefined()
      expect(events.some((e) => e.type === 'store-error')).toBe(true)
      // Warm instances keep serving from memory while the store is down.
      const again = await Promise.all(providers.map((p) => p.getToken()))
      expect(again).toEqual(tokens)
      expect(await issuer.tokenRequests()).toBe(burstRequests)

      await redis.restart()
      await Promise.all(
        clients.map(async (c) => {
          while (c.status !== 'ready') await new Promise((r) => setTimeout(r, 20))
        }),
      )
      timeline.skipBackOff()

      // One instance replaces its token: it writes the store again, and a new instance reads it.
      const recovered = providers[0]!
      const fresh = await recovered.getToken({ forceRefresh: true })
      expect(events.some((e) => e.type === 'store-recovered')).toBe(true)
      const raw = await clients[1]!.get(`tokenstash:{${recovered.key}}`)
      expect(raw).toEqual(expect.any(String))
      expect(raw).not.toContain(fresh)

      const newcomerClient = servers.redisClient()
      clients.push(newcomerClient)
      await expectServedFromStore(issuer, timeline.instance(redisStore({ client: newcomerClient })), fresh)

      // Nothing the fleet reported holds a token or the secret.
      timeline.expectNoLeak([fresh, ...again])
    } finally {
      for (const c of clients) c.disconnect()
    }
  })
})

describe('a fleet sharing Redis when redis-server hangs', () => {
  it('should bound every store call by storeTimeoutMs, serve from memory or the endpoint, and recover', async () => {
    const { issuer, redis } = servers
    const timeline = fleetTimeline(issuer, 'hang')
    const { events } = timeline
    // ioredis defaults: no command timeout, so a frozen server leaves every command pending.
    const clients: Redis[] = []
    const instance = () => {
      const client = servers.redisClient()
      clients.push(client)
      return timeline.instance(redisStore({ client }), { storeTimeoutMs: 300 })
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
      timeline.skipBackOff()
      const refreshed = await cold[0]!.getToken({ forceRefresh: true })
      expect(events.some((e) => e.type === 'store-recovered')).toBe(true)
      await expectServedFromStore(issuer, instance(), refreshed)
      timeline.expectNoLeak([refreshed, ...stored])
    } finally {
      redis.resume()
      for (const c of clients) c.disconnect()
    }
  })
})
