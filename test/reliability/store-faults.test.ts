import {
  type DynamoDBClient,
  ProvisionedThroughputExceededException,
  ThrottlingException,
} from '@aws-sdk/client-dynamodb'
import type { TokenProvider } from '@tokenstash/core'
import { dynamoDbStore } from '@tokenstash/store-dynamodb'
import { redisStore } from '@tokenstash/store-redis'
import Redis, { type Cluster } from 'ioredis'
import { type FleetTimeline, fleetTimeline } from '../support/fleet'
import { startRedisCluster } from '../support/redis'
import { countInFlight, type ScenarioResult, scenarioResults, TokenAudit } from '../support/reliability'
import { useServers } from '../support/servers'
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy'

// The shared store fails in the ways a network and a managed service fail, under a cold fleet:
// refused at start, killed mid-burst, slower than storeTimeoutMs, a cluster primary lost, DynamoDB
// throttling. Every caller gets a token, none is expired, and the store is used again afterwards.

const results = scenarioResults('store-faults')
const TABLE = 'reliability-tokens'

const servers = useServers({
  issuer: { accessTokenTtlSeconds: 300 },
  redis: true,
  dynamo: { tables: [TABLE] },
})

/** A fleet on one timeline whose clock the test may move past the store back-off. */
const timeline = () => fleetTimeline(servers.issuer, 'store')

async function burst(audit: TokenAudit, fleet: TokenProvider[]) {
  const settled = await Promise.allSettled(fleet.map(async (p) => audit.served(await p.getToken())))
  const failed = settled.filter((r) => r.status === 'rejected') as PromiseRejectedResult[]
  return { invocations: settled.length, failed: failed.length, reasons: failed.map((f) => f.reason) }
}

/** What a cold burst of one call per instance gave. */
type Burst = Awaited<ReturnType<typeof burst>>

/**
 * Records a scenario whose store served again after the fault (recovery: from `healedAt` to now;
 * invocations: the burst and the two calls of {@link storeServesAgain}), then checks what each such
 * scenario must show: no caller failed, at most one token request per instance while the fault
 * lasted (`during`), no bad token.
 */
async function recordColdBurst(
  cold: Burst,
  audit: TokenAudit,
  during: number,
  healedAt: number,
  row: Pick<ScenarioResult, 'scenario' | 'fault' | 'notes'>,
): Promise<void> {
  const tokenRequests = await servers.issuer.tokenRequests()
  results.record({
    scenario: row.scenario,
    fault: row.fault,
    invocations: cold.invocations + 2,
    failed: cold.failed,
    tokenRequests,
    recoveryMs: Date.now() - healedAt,
    badTokensServed: audit.bad,
    notes: row.notes,
  })
  expect(cold.reasons).toEqual([])
  // One call per instance: the burst's invocations are the fleet's instances.
  expect(during).toBeLessThanOrEqual(cold.invocations)
  expect(audit.bad).toBe(0)
}

/**
 * One instance writes a fresh token, and a newcomer reads it from the store: the store works again.
 * Up to 3 rounds, each with a new newcomer on the same client: on a loaded 2-core machine one write
 * or read can outlast storeTimeoutMs after the fault ends (the client's backlog draining), which
 * is that call failing open, not the store staying broken. A store that does not recover fails
 * all three.
 */
async function storeServesAgain(
  t: FleetTimeline,
  writer: TokenProvider,
  newcomer: () => TokenProvider,
): Promise<boolean> {
  for (let round = 0; round < 3; round++) {
    t.skipBackOff()
    const fresh = await writer.getToken({ forceRefresh: true })
    const reader = newcomer()
    const read = await reader.getToken()
    if (read === fresh && reader.stats().l2Hits === 1 && reader.stats().fetches === 0) return true
  }
  return false
}

describe('a cold fleet sharing Redis', () => {
  const clients: Redis[] = []
  let proxy: TcpProxy
  beforeEach(async () => {
    proxy = await startTcpProxy(servers.redis.port)
    await servers.issuer.resetCounts()
  })
  afterEach(async () => {
    for (const c of clients.splice(0)) c.disconnect()
    await proxy.stop()
  })
  // README settings for Lambda: fail fast while disconnected, reconnect on their own.
  const client = (options = {}) => {
    const c = new Redis(proxy.port, '127.0.0.1', {
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false,
      retryStrategy: () => 50,
      ...options,
    })
    c.on('error', () => {})
    clients.push(c)
    return c
  }
  const ready = (c: Redis) =>
    new Promise<void>((resolve) => {
      const check = () => (c.status === 'ready' ? resolve() : setTimeout(check, 20))
      check()
    })
  /** Once every client is ready again: a newcomer on a client of its own, ready too. */
  const newcomerOnReadyClients = async (t: FleetTimeline) => {
    await Promise.all(clients.map(ready))
    const newcomerClient = client()
    await ready(newcomerClient)
    return () => t.instance(redisStore({ client: newcomerClient }))
  }

  it('should serve everyone when Redis refuses connections at start, and use it once it is back', async () => {
    proxy.setMode('reset')
    const t = timeline()
    const audit = new TokenAudit()
    const fleet = Array.from({ length: 10 }, () => t.instance(redisStore({ client: client() })))
    const cold = await burst(audit, fleet)
    const requests = await servers.issuer.tokenRequests()

    proxy.setMode('pass')
    const healed = Date.now()
    const newcomer = await newcomerOnReadyClients(t)
    expect(await storeServesAgain(t, fleet[0]!, newcomer)).toBe(true)
    await recordColdBurst(cold, audit, requests, healed, {
      scenario: 'Redis down at start',
      fault: 'every connection refused (TCP reset) while 10 instances start cold',
      notes: `${requests} token requests during the outage (at most one per instance)`,
    })
    expect(t.events.some((e) => e.type === 'store-recovered')).toBe(true)
  })

  it('should serve everyone when Redis is killed mid-burst, and share tokens again after its restart', async () => {
    const t = timeline()
    const audit = new TokenAudit()
    const stores = Array.from({ length: 30 }, () => redisStore({ client: client() }))
    await Promise.all(clients.map(ready))
    let killed: Promise<void> | undefined
    // The first store write (the lease winner's token) never lands: the server dies first.
    const fleet = stores.map((store) =>
      t.instance({
        ...store,
        get: (k) => store.get(k),
        delete: (k, e) => store.delete(k, e),
        acquireLease: (k, o, ttl) => store.acquireLease(k, o, ttl),
        releaseLease: (k, o) => store.releaseLease(k, o),
        async set(k, v, ttl) {
          killed ??= servers.redis.kill()
          await killed
          return store.set(k, v, ttl)
        },
      }),
    )
    const cold = await burst(audit, fleet)
    const during = await servers.issuer.tokenRequests()
    expect(killed).toBeDefined()

    await servers.redis.restart()
    const restarted = Date.now()
    const newcomer = await newcomerOnReadyClients(t)
    expect(await storeServesAgain(t, t.instance(stores[0]!), newcomer)).toBe(true)
    await recordColdBurst(cold, audit, during, restarted, {
      scenario: 'Redis killed mid-burst, restarted',
      fault: 'redis-server SIGKILLed as the lease winner writes, 30 instances cold; restarted empty',
      notes: `${during} token requests during the outage (at most one per instance)`,
    })
  })

  it('should bound every store call by storeTimeoutMs when Redis answers late, and recover', async () => {
    const t = timeline()
    const audit = new TokenAudit()
    const fleet = Array.from({ length: 10 }, () =>
      t.instance(redisStore({ client: client() }), { storeTimeoutMs: 200 }),
    )
    await Promise.all(clients.map(ready))
    proxy.setAll('delay', 600)
    const started = Date.now()
    const cold = await burst(audit, fleet)
    const slowMs = Date.now() - started
    const during = await servers.issuer.tokenRequests()
    const timeouts = t.events.filter((e) => e.type === 'store-error')

    proxy.setAll('pass')
    const healed = Date.now()
    const newcomerStore = redisStore({ client: client() })
    const newcomer = () => t.instance(newcomerStore, { storeTimeoutMs: 200 })
    // Replies delayed before the switch still come first, in order: the backlog drains, then the
    // store answers in time again (a call made before that times out and backs off once more).
    await Promise.all(
      clients.map(async (c) => {
        await ready(c)
        await c.ping()
      }),
    )
    expect(await storeServesAgain(t, fleet[0]!, newcomer)).toBe(true)
    await recordColdBurst(cold, audit, during, healed, {
      scenario: 'Redis slower than storeTimeoutMs',
      fault: 'every Redis reply delayed 600 ms, storeTimeoutMs 200, 10 instances cold',
      notes: `cold burst took ${slowMs} ms; ${during} token requests; ${timeouts.length} store-error events`,
    })
    expect(timeouts.length).toBeGreaterThan(0)
    expect(timeouts.every((e) => e.message?.includes('storeTimeoutMs'))).toBe(true)
  })
})

describe('a fleet sharing a Redis cluster (3 primaries, 3 replicas)', () => {
  it('should serve everyone while a primary dies and its replica takes over, then share tokens again', async () => {
    const cluster = await startRedisCluster({ replicas: 1 })
    const clients: Cluster[] = []
    const client = () => {
      const c = new Redis.Cluster(cluster.nodes, {
        redisOptions: { maxRetriesPerRequest: 1 },
        clusterRetryStrategy: () => 100,
      })
      c.on('error', () => {})
      clients.push(c)
      return c
    }
    try {
      const t = timeline()
      const audit = new TokenAudit()
      await servers.issuer.resetCounts()
      const warm = t.instance(redisStore({ client: client() }))
      audit.served(await warm.getToken())
      const primary = await cluster.primaryOf(`tokenstash:{${warm.key}}`)
      const fleet = Array.from({ length: 10 }, () => t.instance(redisStore({ client: client() })))
      await Promise.all(clients.map((c) => c.ping()))

      await cluster.kill(primary)
      const killedAt = Date.now()
      const cold = await burst(audit, fleet)
      const during = (await servers.issuer.tokenRequests()) - 1

      // The replica of the dead primary is promoted after the node timeout (2 s); until then the
      // slot is unavailable. Recovery: the first time a newcomer reads a fresh token from the store.
      let recoveredAt: number | undefined
      let rounds = 0
      while (recoveredAt === undefined && Date.now() - killedAt < 30_000) {
        rounds++
        const newcomerStore = redisStore({ client: client() })
        const newcomer = () => t.instance(newcomerStore, { storeTimeoutMs: 500 })
        if (await storeServesAgain(t, t.instance(redisStore({ client: clients[1]! })), newcomer)) {
          recoveredAt = Date.now()
        } else await new Promise((r) => setTimeout(r, 250))
      }
      const promoted = await cluster.primaryOf(`tokenstash:{${warm.key}}`)
      results.record({
        scenario: 'Redis cluster failover',
        fault: "the primary holding the fleet's slot SIGKILLed, 10 instances cold",
        invocations: 1 + cold.invocations + rounds * 2,
        failed: cold.failed,
        tokenRequests: await servers.issuer.tokenRequests(),
        recoveryMs: recoveredAt === undefined ? null : recoveredAt - killedAt,
        badTokensServed: audit.bad,
        notes: `${during} token requests in the cold burst after the kill; slot moved from :${primary} to :${promoted} (node timeout 2 s)`,
      })
      expect(cold.reasons).toEqual([])
      expect(during).toBeLessThanOrEqual(fleet.length)
      expect(recoveredAt).toBeDefined()
      expect(promoted).not.toBe(primary)
      expect(audit.bad).toBe(0)
    } finally {
      for (const c of clients) c.disconnect()
      await cluster.stop()
    }
  }, 90_000)
})

describe('a fleet sharing DynamoDB that throttles', () => {
  it.each([
    ['ProvisionedThroughputExceededException', ProvisionedThroughputExceededException],
    ['ThrottlingException', ThrottlingException],
  ])(
    'should serve everyone through %s, with the SDK retrying and the provider degrading',
    async (name, Exception) => {
      const t = timeline()
      const audit = new TokenAudit()
      // The first THROTTLED attempts that reach the wire are refused: by count, not by time, so a
      // slow machine still sees the fault.
      let toThrottle = 0
      let throttled = 0
      const clients: DynamoDBClient[] = []
      const inFlight: (() => number)[] = []
      const client = () => {
        const c = servers.dynamo.makeClient()
        // Commands the provider gave up on (storeTimeoutMs) go on retrying inside the SDK: the
        // clients are destroyed only once they have all settled.
        inFlight.push(countInFlight(c))
        // Below the SDK's retry middleware, so its backoff for throttling errors is exercised too.
        c.middlewareStack.add(
          (next) => async (args) => {
            if (toThrottle > 0) {
              toThrottle--
              throttled++
              throw new Exception({
                message: `Rate exceeded (injected ${name})`,
                $metadata: { httpStatusCode: 400 },
              })
            }
            return next(args)
          },
          { step: 'deserialize', name: 'injectThrottling' },
        )
        clients.push(c)
        return c
      }
      try {
        await servers.issuer.resetCounts()
        const fleet = Array.from({ length: 10 }, () =>
          t.instance(dynamoDbStore({ client: client(), tableName: TABLE })),
        )
        toThrottle = 25
        const cold = await burst(audit, fleet)
        const during = await servers.issuer.tokenRequests()
        toThrottle = 0
        const healed = Date.now()
        // A container's SDK client connects during its init phase; a cold one's first call can
        // outlast the default storeTimeoutMs on a loaded 2-core machine, which is not this scenario.
        const newcomerStore = dynamoDbStore({ client: client(), tableName: TABLE })
        await newcomerStore.get(`${t.namespace}:warm-up`)
        expect(await storeServesAgain(t, fleet[0]!, () => t.instance(newcomerStore))).toBe(true)
        await recordColdBurst(cold, audit, during, healed, {
          scenario: `DynamoDB ${name}`,
          fault: `the first 25 DynamoDB attempts throttled (SDK default retries: 3 attempts), 10 instances cold`,
          notes: `${throttled} calls throttled; ${during} token requests during the throttling`,
        })
        expect(throttled).toBeGreaterThan(0)
      } finally {
        while (inFlight.some((n) => n() > 0)) await new Promise((r) => setTimeout(r, 50))
        for (const c of clients) c.destroy()
      }
    },
  )
})
