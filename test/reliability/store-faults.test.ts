import { randomBytes } from 'node:crypto'
import {
  type DynamoDBClient,
  ProvisionedThroughputExceededException,
  ThrottlingException,
} from '@aws-sdk/client-dynamodb'
import {
  clientCredentials,
  createTokenProvider,
  type TokenEvent,
  type TokenProvider,
  type TokenProviderOptions,
  type TokenStore,
} from '@tokenstash/core'
import { dynamoDbStore } from '@tokenstash/store-dynamodb'
import { redisStore } from '@tokenstash/store-redis'
import Redis, { type Cluster } from 'ioredis'
import nock from 'nock'
import { type DynamoServer, startDynamo } from '../support/dynamodb'
import { type Issuer, startIssuer } from '../support/issuer'
import { type RedisServer, startRedis, startRedisCluster } from '../support/redis'
import { scenarioResults, TokenAudit } from '../support/reliability'
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy'

// The shared store fails in the ways a network and a managed service fail, under a cold fleet:
// refused at start, killed mid-burst, slower than storeTimeoutMs, a cluster primary lost, DynamoDB
// throttling. Every caller gets a token, none is expired, and the store is used again afterwards.

const results = scenarioResults('store-faults')
const encryptionKey = randomBytes(32).toString('base64')
const TABLE = 'reliability-tokens'

let issuer: Issuer
let redis: RedisServer
let dynamo: DynamoServer

beforeAll(async () => {
  nock.disableNetConnect()
  nock.enableNetConnect('127.0.0.1')
  ;[issuer, redis, dynamo] = await Promise.all([
    startIssuer({ accessTokenTtlSeconds: 300 }),
    startRedis(),
    startDynamo(),
  ])
  await dynamo.createTable(TABLE)
}, 60_000)

afterAll(async () => {
  await Promise.all([issuer?.stop(), redis?.stop(), dynamo?.stop()])
  nock.enableNetConnect()
})

/** A fleet on one timeline whose clock the test may move past the store back-off. */
function timeline() {
  let skew = 0
  const events: TokenEvent[] = []
  const namespace = `store-${randomBytes(4).toString('hex')}`
  const now = () => Date.now() + skew
  const { clientId, clientSecret } = issuer.clients.basic
  return {
    events,
    namespace,
    now,
    /** Moves every instance's clock past DEFAULTS.storeRetryAfterMs, so they try the store again. */
    skipBackOff() {
      skew += 6_000
    },
    instance(store: TokenStore, options: Partial<TokenProviderOptions> = {}): TokenProvider {
      return createTokenProvider({
        source: clientCredentials({ tokenEndpoint: issuer.tokenEndpoint, clientId, clientSecret, now }),
        store,
        encryptionKey,
        namespace,
        now,
        onEvent: (e) => events.push(e),
        ...options,
      })
    },
  }
}

async function burst(audit: TokenAudit, fleet: TokenProvider[]) {
  const settled = await Promise.allSettled(fleet.map(async (p) => audit.served(await p.getToken())))
  const failed = settled.filter((r) => r.status === 'rejected') as PromiseRejectedResult[]
  return { invocations: settled.length, failed: failed.length, reasons: failed.map((f) => f.reason) }
}

/**
 * One instance writes a fresh token, and a newcomer reads it from the store: the store works again.
 * Up to 3 rounds, each with a new newcomer on the same client: on a loaded 2-core machine one write
 * or read can outlast storeTimeoutMs after the fault ends (the client's backlog draining), which
 * is that call failing open, not the store staying broken. A store that does not recover fails
 * all three.
 */
async function storeServesAgain(
  t: ReturnType<typeof timeline>,
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
    proxy = await startTcpProxy(redis.port)
    await issuer.resetCounts()
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

  it('should serve everyone when Redis refuses connections at start, and use it once it is back', async () => {
    proxy.setMode('reset')
    const t = timeline()
    const audit = new TokenAudit()
    const fleet = Array.from({ length: 10 }, () => t.instance(redisStore({ client: client() })))
    const cold = await burst(audit, fleet)
    const requests = await issuer.tokenRequests()

    proxy.setMode('pass')
    const healed = Date.now()
    await Promise.all(clients.map(ready))
    const newcomerClient = client()
    await ready(newcomerClient)
    expect(
      await storeServesAgain(t, fleet[0]!, () => t.instance(redisStore({ client: newcomerClient }))),
    ).toBe(true)
    results.record({
      scenario: 'Redis down at start',
      fault: 'every connection refused (TCP reset) while 10 instances start cold',
      invocations: cold.invocations + 2,
      failed: cold.failed,
      tokenRequests: await issuer.tokenRequests(),
      recoveryMs: Date.now() - healed,
      badTokensServed: audit.bad,
      notes: `${requests} token requests during the outage (at most one per instance)`,
    })
    expect(cold.reasons).toEqual([])
    expect(requests).toBeLessThanOrEqual(fleet.length)
    expect(audit.bad).toBe(0)
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
          killed ??= redis.kill()
          await killed
          return store.set(k, v, ttl)
        },
      }),
    )
    const cold = await burst(audit, fleet)
    const during = await issuer.tokenRequests()
    expect(killed).toBeDefined()

    await redis.restart()
    const restarted = Date.now()
    await Promise.all(clients.map(ready))
    const newcomerClient = client()
    await ready(newcomerClient)
    expect(
      await storeServesAgain(t, t.instance(stores[0]!), () =>
        t.instance(redisStore({ client: newcomerClient })),
      ),
    ).toBe(true)
    results.record({
      scenario: 'Redis killed mid-burst, restarted',
      fault: 'redis-server SIGKILLed as the lease winner writes, 30 instances cold; restarted empty',
      invocations: cold.invocations + 2,
      failed: cold.failed,
      tokenRequests: await issuer.tokenRequests(),
      recoveryMs: Date.now() - restarted,
      badTokensServed: audit.bad,
      notes: `${during} token requests during the outage (at most one per instance)`,
    })
    expect(cold.reasons).toEqual([])
    expect(during).toBeLessThanOrEqual(fleet.length)
    expect(audit.bad).toBe(0)
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
    const during = await issuer.tokenRequests()
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
    results.record({
      scenario: 'Redis slower than storeTimeoutMs',
      fault: 'every Redis reply delayed 600 ms, storeTimeoutMs 200, 10 instances cold',
      invocations: cold.invocations + 2,
      failed: cold.failed,
      tokenRequests: await issuer.tokenRequests(),
      recoveryMs: Date.now() - healed,
      badTokensServed: audit.bad,
      notes: `cold burst took ${slowMs} ms; ${during} token requests; ${timeouts.length} store-error events`,
    })
    expect(cold.reasons).toEqual([])
    expect(during).toBeLessThanOrEqual(fleet.length)
    expect(timeouts.length).toBeGreaterThan(0)
    expect(timeouts.every((e) => e.message?.includes('storeTimeoutMs'))).toBe(true)
    expect(audit.bad).toBe(0)
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
      await issuer.resetCounts()
      const warm = t.instance(redisStore({ client: client() }))
      audit.served(await warm.getToken())
      const primary = await cluster.primaryOf(`tokenstash:{${warm.key}}`)
      const fleet = Array.from({ length: 10 }, () => t.instance(redisStore({ client: client() })))
      await Promise.all(clients.map((c) => c.ping()))

      await cluster.kill(primary)
      const killedAt = Date.now()
      const cold = await burst(audit, fleet)
      const during = (await issuer.tokenRequests()) - 1

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
        tokenRequests: await issuer.tokenRequests(),
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
      let inFlight = 0
      const client = () => {
        const c = dynamo.makeClient()
        // Commands the provider gave up on (storeTimeoutMs) go on retrying inside the SDK: the
        // clients are destroyed only once they have all settled.
        c.middlewareStack.add(
          (next) => async (args) => {
            inFlight++
            try {
              return await next(args)
            } finally {
              inFlight--
            }
          },
          { step: 'initialize', name: 'countInFlight' },
        )
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
        await issuer.resetCounts()
        const fleet = Array.from({ length: 10 }, () =>
          t.instance(dynamoDbStore({ client: client(), tableName: TABLE })),
        )
        toThrottle = 25
        const cold = await burst(audit, fleet)
        const during = await issuer.tokenRequests()
        toThrottle = 0
        const healed = Date.now()
        // A container's SDK client connects during its init phase; a cold one's first call can
        // outlast the default storeTimeoutMs on a loaded 2-core machine, which is not this scenario.
        const newcomerStore = dynamoDbStore({ client: client(), tableName: TABLE })
        await newcomerStore.get(`${t.namespace}:warm-up`)
        expect(await storeServesAgain(t, fleet[0]!, () => t.instance(newcomerStore))).toBe(true)
        results.record({
          scenario: `DynamoDB ${name}`,
          fault: `the first 25 DynamoDB attempts throttled (SDK default retries: 3 attempts), 10 instances cold`,
          invocations: cold.invocations + 2,
          failed: cold.failed,
          tokenRequests: await issuer.tokenRequests(),
          recoveryMs: Date.now() - healed,
          badTokensServed: audit.bad,
          notes: `${throttled} calls throttled; ${during} token requests during the throttling`,
        })
        expect(throttled).toBeGreaterThan(0)
        expect(cold.reasons).toEqual([])
        expect(during).toBeLessThanOrEqual(fleet.length)
        expect(audit.bad).toBe(0)
      } finally {
        while (inFlight > 0) await new Promise((r) => setTimeout(r, 50))
        for (const c of clients) c.destroy()
      }
    },
  )
})
