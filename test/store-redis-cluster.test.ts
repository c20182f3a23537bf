import { runStoreContract } from '@tokenstash/core/testing'
import { redisStore } from '@tokenstash/store-redis'
import type { Cluster } from 'ioredis'
import { createCluster } from 'redis'
import { useServers } from './support/servers'

const servers = useServers({ redisCluster: true })

describe('redisStore on a 3-node cluster', () => {
  runStoreContract('redisStore (ioredis Cluster)', () => redisStore({ client: servers.clusterClient() }))

  // Reads from replicas: the store reads through a script, which both clients send to the primary.
  runStoreContract("redisStore (ioredis Cluster, scaleReads: 'slave')", () =>
    redisStore({ client: servers.clusterClient({ scaleReads: 'slave' }) }),
  )

  runStoreContract('redisStore (node-redis cluster)', async () => {
    const rootNodes = servers.redisCluster.nodes.map((n) => ({ url: `redis://${n.host}:${n.port}` }))
    const client = createCluster({ rootNodes })
    servers.onStop(() => client.destroy())
    return redisStore({ client: await client.connect() })
  })

  describe('redisStore', () => {
    let client: Cluster
    beforeAll(() => {
      client = servers.clusterClient()
    })

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
