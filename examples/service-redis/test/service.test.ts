import { randomBytes } from 'node:crypto'
import { randomKey } from '../../../test/support/proxy-client'
import { useServers } from '../../../test/support/servers'
import { type LocalFleet, startLocalFleet } from '../src/local-fleet'

// The example service, several instances sharing one real redis-server, calling an API that
// verifies every JWT from a real OAuth2 server configured as a Cognito app client would be.

describe('example service-redis', () => {
  const servers = useServers({
    issuer: { accessTokenTtlSeconds: 3600, scopes: ['orders/read'] },
    redis: true,
    api: true,
    resetEach: true,
  })
  let fleet: LocalFleet

  beforeEach(async () => {
    fleet = await startLocalFleet({
      issuer: servers.issuer,
      redisUrl: servers.redis.url,
      ordersApiUrl: servers.api.url,
      instances: 3,
      encryptionKey: randomKey(),
      namespace: `test-${randomBytes(4).toString('hex')}`,
    })
  })

  afterEach(() => fleet.close())

  const burst = (n: number) =>
    Promise.all(
      Array.from({ length: n }, (_, i) =>
        fetch(`${fleet.urls[i % fleet.urls.length]}/orders/${i}`).then((r) => r.status),
      ),
    )

  it('should serve every request with a verified token, one token request for the whole fleet', async () => {
    const { issuer, api } = servers
    expect(await burst(30)).toEqual(Array(30).fill(200))
    expect(await issuer.tokenRequests()).toBe(1)
    expect(api.log().every((r) => r.verdict === 'valid' && r.sub === issuer.clients.basic.clientId)).toBe(
      true,
    )
  })

  it('should keep no token in clear in Redis', async () => {
    const { api } = servers
    await burst(3)
    const keys = await fleet.clients[0]!.keys('tokenstash:*')
    const values = (await Promise.all(keys.map((k) => fleet.clients[0]!.get(k)))).join('\n')
    expect(keys.length).toBeGreaterThan(0)
    for (const token of api.tokensSeen()) expect(values.includes(token)).toBe(false)
  })

  it('should replace a revoked token once for the whole fleet', async () => {
    const { issuer, api } = servers
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
