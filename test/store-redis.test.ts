import { StoreError } from '@tokenstash/core'
import { runStoreContract } from '@tokenstash/core/testing'
import { redisStore } from '@tokenstash/store-redis'
import Redis from 'ioredis'
import { createClient } from 'redis'
import { startRedis } from './support/redis'
import { useServers } from './support/servers'

const servers = useServers({ redis: true })

describe('redisStore on a single node', () => {
  runStoreContract('redisStore (ioredis)', () => redisStore({ client: servers.redisClient() }))

  runStoreContract('redisStore (node-redis)', async () => {
    const client = createClient({ url: servers.redis.url })
    servers.onStop(() => client.destroy())
    return redisStore({ client: await client.connect(), prefix: 'nr:' })
  })

  describe('redisStore', () => {
    let client: Redis
    beforeAll(() => {
      client = servers.redisClient()
    })

    it('should write under the prefix with the base key as hash tag', async () => {
      const store = redisStore({ client, prefix: 'app:' })
      await store.set('ns:abc', 'v', 60_000)
      await store.set('ns:abc#cooldown', 'c', 60_000)
      expect(await store.acquireLease('ns:abc#lease', 'me', 60_000)).toBe(true)
      expect(await client.get('app:{ns:abc}')).toBe('v')
      expect(await client.get('app:{ns:abc}#cooldown')).toBe('c')
      expect(await client.get('app:{ns:abc}#lease')).toBe('me')
      const pttl = await client.pttl('app:{ns:abc}')
      expect(pttl).toBeGreaterThan(50_000)
      expect(pttl).toBeLessThanOrEqual(60_000)
    })

    it('should fall back to EVAL after the server lost its scripts', async () => {
      const store = redisStore({ client })
      await store.set('flush:me', 'v', 60_000)
      await client.script('FLUSH')
      await store.delete('flush:me', 'v')
      expect(await store.get('flush:me')).toBeUndefined()
    })

    it('should treat a value of another Redis type as a store error, not a token', async () => {
      const store = redisStore({ client })
      await client.rpush('tokenstash:{wrong:type}', 'secret-looking-value')
      const err = await store.get('wrong:type').catch((e: unknown) => e)
      expect(err).toBeInstanceOf(StoreError)
      expect((err as StoreError).message).toContain('WRONGTYPE')
      expect((err as StoreError).message).not.toContain('secret-looking-value')
    })

    it('should never run KEYS or SCAN', async () => {
      const stats = await client.info('commandstats')
      expect(stats).toContain('cmdstat_set:')
      expect(stats).toContain('cmdstat_evalsha:')
      expect(stats).not.toMatch(/cmdstat_(keys|scan):/)
    })
  })
})

// The ElastiCache setup the README recommends refuses commands until connected; a call made at init
// (Middy's prefetch) must wait for the first connection instead of failing.
describe('redisStore with a client that refuses commands while it connects', () => {
  it('should wait for an ioredis client with enableOfflineQueue: false', async () => {
    const client = servers.redisClient({ enableOfflineQueue: false })
    try {
      const store = redisStore({ client })
      expect(client.status).not.toBe('ready')
      await expect(store.acquireLease('init:io#lease', 'me', 60_000)).resolves.toBe(true)
      expect(await store.get('init:io#lease')).toBe('me')
    } finally {
      client.disconnect()
    }
  })

  it('should wait for a node-redis client with disableOfflineQueue: true', async () => {
    const client = createClient({ url: servers.redis.url, disableOfflineQueue: true })
    const connecting = client.connect()
    try {
      const store = redisStore({ client, prefix: 'nr:' })
      expect(client.isReady).toBe(false)
      await expect(store.acquireLease('init:nr#lease', 'me', 60_000)).resolves.toBe(true)
    } finally {
      await connecting
      client.destroy()
    }
  })
})

describe('redisStore against a stopped server', () => {
  it('should reject with a StoreError naming the operation and holding no value', async () => {
    const down = await startRedis()
    const client = new Redis(down.url, {
      lazyConnect: true,
      enableOfflineQueue: false,
      retryStrategy: () => null,
    })
    try {
      await client.connect()
      const store = redisStore({ client })
      expect(await store.get('warm:up')).toBeUndefined()
      await down.kill()
      while (client.status === 'ready') await new Promise((r) => setTimeout(r, 10))
      const err = await store.set('k:1', 'value-that-must-not-leak', 1000).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(StoreError)
      expect(err).toMatchObject({ code: 'ERR_STORE', operation: 'set' })
      expect((err as StoreError).cause).toBeInstanceOf(Error)
      expect((err as StoreError).message).not.toContain('value-that-must-not-leak')
    } finally {
      // ioredis arms a 2 s timer when disconnecting a stream that has already closed.
      if (client.status !== 'end') client.disconnect()
      await down.stop()
    }
  })
})
