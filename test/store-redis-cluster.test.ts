import { runStoreContract } from '@tokenstash/core/testing'
import { redisStore } from '@tokenstash/store-redis'
import { Cluster } from 'ioredis'
import { createCluster } from 'redis'
import { type RedisCluster, startRedisCluster } from './support/redis'

let cluster: RedisCluster

beforeAll(async () => {
  cluster = await startRedisCluster()
}, 60_000)
afterAll(async () => {
  await cluster?.stop()
})

describe('redisStore on a 3-node cluster', () => {
  let ioredis: Cluster
  runStoreContract(
    'redisStore (ioredis Cluster)',
    () => {
      ioredis = new Cluster(cluster.nodes)
      return redisStore({ client: ioredis })
    },
    { teardown: () => void ioredis.disconnect() },
  )

  // Reads from replicas: the store reads through a script, which both clients send to the primary.
  let replicaReads: Cluster
  runStoreContract(
    "redisStore (ioredis Cluster, scaleReads: 'slave')",
    () => {
      replicaReads = new Cluster(cluster.nodes, { scaleReads: 'slave' })
      return redisStore({ client: replicaReads })
    },
    { teardown: () => void replicaReads.disconnect() },
  )

  let nodeRedis: ReturnType<typeof createCluster>
  runStoreContract(
    'redisStore (node-redis cluster)',
    async () => {
      nodeRedis = createCluster({
        rootNodes: cluster.nodes.map((n) => ({ url: `redis://${n.host}:${n.port}` })),
      })
      await nodeRedis.connect()
      return redisStore({ client: nodeRedis })
    },
    { teardown: () => nodeRedis.destroy() },
  )

  describe('redisStore', () => {
    let client: Cluster
    beforeAll(() => {
      client = new Cluster(cluster.nodes)
    })
    afterAll(() => client.disconnect())

    it("should put a provider's key, lease and cooldown in one slot", async () => {
      const store = redisStore({ client })
      // Many keys, so some of them hash to each of the three masters.
      const bases = Array.from({ length: 12 }, (_, i) => `default:${i.toString(16).padStart(8, 'f')}`)
      const slots = new Set<number>()
      for (const base of bases) {
        await store.set(base, 'token', 60_000)
        await store.set(`${base}#cooldown`, 'cool', 60_000)
        expect(await store.acquireLease(`${base}#lease`, 'me', 60_000)).toBe(true)
        const raw = [`tokenstash:{${base}}`, `tokenstash:{${base}}#cooldown`, `tokenstash:{${base}}#lease`]
        expect(await Promise.all(raw.map((k) => client.get(k)))).toEqual(['token', 'cool', 'me'])
        const keySlots = await Promise.all(raw.map((k) => client.cluster('KEYSLOT', k) as Promise<number>))
        expect(new Set(keySlots).size).toBe(1)
        slots.add(keySlots[0] as number)
        // The Lua release runs on the slot's node; it would fail (CROSSSLOT/MOVED) otherwise.
        await store.releaseLease(`${base}#lease`, 'me')
        expect(await store.get(`${base}#lease`)).toBeUndefined()
      }
      expect(slots.size).toBeGreaterThan(1)
    })
  })
})
