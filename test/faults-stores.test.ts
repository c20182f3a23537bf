import { randomBytes } from 'node:crypto'
import { ScanCommand } from '@aws-sdk/client-dynamodb'
import {
  clientCredentials,
  type TokenEvent,
  type TokenProvider,
  type TokenProviderOptions,
  type TokenStore,
} from '@tokenstash/core'
import { dynamoDbStore } from '@tokenstash/store-dynamodb'
import { redisStore } from '@tokenstash/store-redis'
import type Redis from 'ioredis'
import { type FleetTimeline, fleetTimeline } from './support/fleet'
import { randomKey } from './support/proxy-client'
import { useServers } from './support/servers'

// What a shared store can do wrong, against real servers: a lease holder that never releases,
// entries that are garbage, truncated or copied from another key, and a lease freed in the gap
// between a read and an acquire. Whatever is in the store, getToken never fails and never serves
// a token under the wrong key, and the store never holds a token or a secret in clear.

const servers = useServers({
  issuer: { accessTokenTtlSeconds: 300 },
  redis: true,
  dynamo: { tables: ['fault-tokens'] },
})
let redisClient: Redis
const encryptionKey = randomKey()

beforeAll(() => {
  redisClient = servers.redisClient()
})

interface Backend {
  name: string
  store(): TokenStore
  /** Every key and value in the server, read around the store (the test may scan; the store never does). */
  dump(): Promise<string[]>
}

const backends: Backend[] = [
  {
    name: 'Redis',
    store: () => redisStore({ client: redisClient }),
    async dump() {
      const keys = await redisClient.keys('*')
      const values = await Promise.all(keys.map((k) => redisClient.get(k)))
      return [...keys, ...values.map(String)]
    },
  },
  {
    name: 'DynamoDB',
    store: () => dynamoDbStore({ client: servers.dynamoClient(), tableName: 'fault-tokens' }),
    async dump() {
      const { Items = [] } = await servers.dynamoClient().send(new ScanCommand({ TableName: 'fault-tokens' }))
      return Items.map((item) => JSON.stringify(item))
    },
  },
]

describe.each(backends)('a provider sharing $name that misbehaves', (backend) => {
  let store: TokenStore
  /** The instances of this backend: every event goes to `timeline.events`. */
  let timeline: FleetTimeline
  const served = new Set<string>()

  beforeAll(() => {
    store = backend.store()
    timeline = fleetTimeline(servers.issuer, 'faults', encryptionKey)
  })
  beforeEach(async () => {
    await servers.issuer.resetCounts()
  })

  function provider(namespace: string, options: Partial<TokenProviderOptions> = {}): TokenProvider {
    return timeline.instance(store, {
      namespace,
      // These scenarios are about what is in the store, not how fast it answers: dynalite is one
      // JavaScript process, and on a loaded 2-core machine a call can outlast the default 1 s, after
      // which the provider rightly skips the store and fetches on its own (tested in
      // reliability/store-faults.test.ts), which would hide the lease under test.
      storeTimeoutMs: 10_000,
      ...options,
    })
  }

  async function token(p: TokenProvider): Promise<string> {
    const t = await p.getToken()
    served.add(t)
    return t
  }

  const ns = (what: string) => `${what}-${randomBytes(4).toString('hex')}`

  it('should let the others proceed after lease.waitMs when a lease holder never releases', async () => {
    const namespace = ns('zombie')
    const waitMs = 300
    const waits: TokenEvent[] = []
    const watched = Array.from({ length: 10 }, () =>
      provider(namespace, { lease: { waitMs }, onEvent: (e) => e.type === 'lease-wait' && waits.push(e) }),
    )
    const lease = `${watched[0]!.key}#lease`
    expect(await store.acquireLease(lease, 'crashed-instance', 60_000)).toBe(true)
    const tokens = await Promise.all(watched.map(token))
    expect(tokens.every((t) => typeof t === 'string' && t.length > 0)).toBe(true)
    const requests = await servers.issuer.tokenRequests()
    expect(requests).toBeGreaterThanOrEqual(1)
    expect(requests).toBeLessThanOrEqual(watched.length)
    // Everyone waited the whole waitMs for a token that never came, then fetched (fail open).
    expect(waits).toHaveLength(watched.length)
    for (const w of waits) expect(w.durationMs).toBeGreaterThanOrEqual(waitMs)
    // The crashed holder's lease was waited out, not stolen.
    expect(await store.get(lease)).toBe('crashed-instance')
  })

  it.each([
    ['garbage', async () => randomBytes(64).toString('latin1')],
    ['an empty string', async () => ''],
    ['a JWE-looking string', async () => 'eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..AAAA.BBBB.CCCC'],
    [
      'plaintext JSON claiming to be this key (a downgrade)',
      async (key: string) =>
        JSON.stringify({
          v: 1,
          kind: 'token',
          key,
          t: 'forged-token',
          tt: 'Bearer',
          ia: Date.now(),
          ea: Date.now() + 60_000,
        }),
    ],
  ])('should treat %s in the store as a miss and fetch a fresh token', async (_, make) => {
    const p = provider(ns('garbage'))
    await store.set(p.key, await make(p.key), 60_000)
    await store.set(`${p.key}#cooldown`, await make(p.key), 60_000)
    const t = await token(p)
    expect(t).not.toBe('forged-token')
    expect(await servers.issuer.tokenRequests()).toBe(1)
    expect(p.stats()).toMatchObject({ fetches: 1, l2Hits: 0 })
    // The bad entry was replaced by a good one another instance can use.
    const next = provider(p.key.split(':')[0]!)
    expect(await token(next)).toBe(t)
    expect(next.stats()).toMatchObject({ fetches: 0, l2Hits: 1 })
  })

  it('should treat a truncated entry as a miss', async () => {
    const namespace = ns('truncated')
    const writer = provider(namespace)
    await token(writer)
    const entry = (await store.get(writer.key))!
    expect(entry.length).toBeGreaterThan(20)
    await store.set(writer.key, entry.slice(0, Math.floor(entry.length / 2)), 60_000)
    await servers.issuer.resetCounts()
    const reader = provider(namespace)
    await token(reader)
    expect(await servers.issuer.tokenRequests()).toBe(1)
    expect(reader.stats()).toMatchObject({ fetches: 1, l2Hits: 0 })
  })

  it("should never serve another key's entry copied under this key", async () => {
    const victim = provider(ns('victim'))
    const attacker = provider(ns('attacker'), {
      source: clientCredentials({
        tokenEndpoint: servers.issuer.tokenEndpoint,
        clientId: servers.issuer.clients.post.clientId,
        clientSecret: servers.issuer.clients.post.clientSecret,
        authMethod: 'client_secret_post',
      }),
    })
    const attackerToken = await token(attacker)
    await store.set(victim.key, (await store.get(attacker.key))!, 60_000)
    await servers.issuer.resetCounts()
    const t = await token(victim)
    expect(t).not.toBe(attackerToken)
    expect(await servers.issuer.tokenRequests(servers.issuer.clients.basic.clientId)).toBe(1)
    expect(victim.stats()).toMatchObject({ fetches: 1, l2Hits: 0 })
  })

  it('should not fetch twice when the lease is freed between its store read and its acquire', async () => {
    const namespace = ns('gap')
    const first = provider(namespace)
    let armed = true
    // The second instance reads the store (a miss), then, before its acquireLease reaches the
    // store, the first instance takes the lease, fetches, writes and releases.
    const gapStore: TokenStore = {
      get: (k) => store.get(k),
      set: (k, v, ttl) => store.set(k, v, ttl),
      delete: (k, e) => store.delete(k, e),
      async acquireLease(k, owner, ttl) {
        if (armed) {
          armed = false
          await token(first)
        }
        return store.acquireLease(k, owner, ttl)
      },
      releaseLease: (k, owner) => store.releaseLease(k, owner),
    }
    const second = provider(namespace, { store: gapStore })
    const t = await token(second)
    expect(armed).toBe(false)
    expect(await servers.issuer.tokenRequests()).toBe(1)
    expect(t).toBe(await first.getToken())
    expect(second.stats()).toMatchObject({ fetches: 0, l2Hits: 1 })
  })

  it('should keep every access token and the client secret out of the store and the events', async () => {
    expect(served.size).toBeGreaterThan(3)
    const dump = (await backend.dump()).join('\n')
    expect(dump.length).toBeGreaterThan(0)
    const secrets = [servers.issuer.clients.basic.clientSecret, servers.issuer.clients.post.clientSecret]
    for (const s of [...served, ...secrets]) {
      expect(dump).not.toContain(s)
      // A JWT's payload (its middle part) would show up even if the rest were mangled.
      const payload = s.split('.')[1]
      if (payload) expect(dump).not.toContain(payload)
    }
    const eventText = JSON.stringify(timeline.events)
    for (const s of [...served, ...secrets]) expect(eventText).not.toContain(s)
  })
})
