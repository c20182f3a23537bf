import type { TokenStore } from '@tokenstash/core'
import { createTokenProxy, type ProxyListener } from '@tokenstash/proxy'
import { dynamoDbStore } from '@tokenstash/store-dynamodb'
import { redisStore } from '@tokenstash/store-redis'
import Redis from 'ioredis'
import { type DynamoServer, startDynamo } from './support/dynamodb'
import { type Issuer, startIssuer } from './support/issuer'
import { randomKey, requestToken } from './support/proxy-client'
import { type RedisServer, startRedis } from './support/redis'

// Two proxy instances (two containers, two hosts) sharing one store: a cold burst of 100 clients
// spread over both costs the identity provider one token request — the core's lease at work.

const CLIENTS = 100

describe('two @tokenstash/proxy instances sharing a store', () => {
  let issuer: Issuer
  let redis: RedisServer
  let dynamo: DynamoServer
  const cleanup: (() => Promise<unknown>)[] = []

  beforeAll(async () => {
    ;[issuer, redis, dynamo] = await Promise.all([
      startIssuer({ accessTokenTtlSeconds: 300 }),
      startRedis(),
      startDynamo(),
    ])
    await dynamo.createTable('proxy-tokens')
  })
  afterAll(async () => {
    await Promise.all([issuer?.stop(), redis?.stop(), dynamo?.stop()])
  })
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn()
  })

  async function burst(makeStore: () => TokenStore): Promise<void> {
    await issuer.resetCounts()
    const hmacKey = randomKey()
    const encryptionKey = randomKey()
    const listeners: ProxyListener[] = []
    for (let i = 0; i < 2; i++) {
      // A proxy instance is a long-lived server whose store client has connected before the burst;
      // a cold AWS SDK client's first call can outlast storeTimeoutMs on a loaded 2-core machine,
      // and the instance then rightly fails open with a fetch of its own: not this scenario.
      const store = makeStore()
      await store.get('warm-up')
      const proxy = createTokenProxy({
        upstream: issuer.tokenEndpoint,
        hmacKey,
        encryptionKey,
        store,
      })
      const listener = await proxy.listen(0)
      cleanup.push(() => listener.close())
      listeners.push(listener)
    }
    const replies = await Promise.all(
      Array.from({ length: CLIENTS }, (_, i) =>
        requestToken(listeners[i % 2]!.url, { client: issuer.clients.basic, scope: 'read' }),
      ),
    )
    expect(replies.map((r) => r.status)).toEqual(replies.map(() => 200))
    expect(new Set(replies.map((r) => r.body.access_token)).size).toBe(1)
    expect(await issuer.tokenRequests()).toBe(1)
  }

  it('should make one upstream request for a cold burst of 100 clients through Redis', async () => {
    await burst(() => {
      const client = new Redis(redis.url)
      cleanup.push(() => client.quit())
      return redisStore({ client })
    })
  })

  it('should make one upstream request for a cold burst of 100 clients through DynamoDB', async () => {
    await burst(() => {
      const client = dynamo.makeClient()
      cleanup.push(async () => client.destroy())
      return dynamoDbStore({ client, tableName: 'proxy-tokens' })
    })
  })
})
