import { randomBytes } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { clientCredentials } from '@tokenstash/core'
import { Redis } from 'ioredis'
import nock from 'nock'
import { type Issuer, startIssuer } from '../../../test/support/issuer'
import { type RedisServer, startRedis } from '../../../test/support/redis'
import { type ResourceServer, startResourceServer } from '../../../test/support/resource-server'
import { type App, createApp } from '../src/app'

// The example service, several instances sharing one real redis-server, calling an API that
// verifies every JWT from a real OAuth2 server configured as a Cognito app client would be.

describe('example service-redis', () => {
  let issuer: Issuer
  let redis: RedisServer
  let api: ResourceServer
  const clients: Redis[] = []
  let apps: App[] = []
  let urls: string[] = []

  beforeAll(async () => {
    nock.disableNetConnect()
    nock.enableNetConnect('127.0.0.1')
    ;[issuer, redis] = await Promise.all([
      startIssuer({ accessTokenTtlSeconds: 3600, scopes: ['orders/read'] }),
      startRedis(),
    ])
    api = await startResourceServer({
      issuer: issuer.issuer,
      jwksUri: issuer.jwksUri,
      audience: issuer.audience,
    })
  })

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.quit()))
    await api?.stop()
    await redis?.stop()
    await issuer?.stop()
    nock.enableNetConnect()
  })

  beforeEach(async () => {
    await issuer.resetCounts()
    api.reset()
    const encryptionKey = randomBytes(32).toString('base64')
    const namespace = `test-${randomBytes(4).toString('hex')}`
    apps = []
    for (let i = 0; i < 3; i++) {
      const client = new Redis(redis.url)
      clients.push(client)
      const { clientId, clientSecret } = issuer.clients.basic
      const app = createApp({
        source: clientCredentials({
          tokenEndpoint: issuer.tokenEndpoint,
          clientId,
          clientSecret,
          authMethod: 'client_secret_basic',
          bodyFormat: 'form',
          scope: ['orders/read'],
        }),
        redis: client,
        encryptionKey,
        ordersApiUrl: api.url,
        namespace,
      })
      await new Promise<void>((resolve) => app.server.listen(0, '127.0.0.1', resolve))
      apps.push(app)
    }
    urls = apps.map((a) => `http://127.0.0.1:${(a.server.address() as AddressInfo).port}`)
  })

  afterEach(async () => {
    await Promise.all(apps.map((a) => new Promise((resolve) => a.server.close(resolve))))
  })

  const burst = (n: number) =>
    Promise.all(
      Array.from({ length: n }, (_, i) =>
        fetch(`${urls[i % urls.length]}/orders/${i}`).then((r) => r.status),
      ),
    )

  it('should serve every request with a verified token, one token request for the whole fleet', async () => {
    expect(await burst(30)).toEqual(Array(30).fill(200))
    expect(await issuer.tokenRequests()).toBe(1)
    expect(api.log().every((r) => r.verdict === 'valid' && r.sub === issuer.clients.basic.clientId)).toBe(
      true,
    )
  })

  it('should keep no token in clear in Redis', async () => {
    await burst(3)
    const keys = await clients[0]!.keys('tokenstash:*')
    const values = (await Promise.all(keys.map((k) => clients[0]!.get(k)))).join('\n')
    expect(keys.length).toBeGreaterThan(0)
    for (const token of api.tokensSeen()) expect(values.includes(token)).toBe(false)
  })

  it('should replace a revoked token once for the whole fleet', async () => {
    await burst(3)
    const [first] = api.tokensSeen().slice(-1)
    api.reject(first!)
    api.reset()
    expect(await burst(9)).toEqual(Array(9).fill(200))
    // One new token: each instance invalidates the rejected one (compare-and-delete in Redis) and
    // adopts the replacement the first instance stored.
    expect(await issuer.tokenRequests()).toBe(2)
    expect(api.log().filter((r) => r.verdict === 'valid')).toHaveLength(9)
  })
})
