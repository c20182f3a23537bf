// `pnpm local` (or, from the repository root, `node scripts/run-ts.mjs examples/service-redis/src/local.ts`):
// runs the service on this machine against embedded servers on 127.0.0.1 — a real OAuth2 server
// (oidc-provider) configured as a Cognito app client would be, a real redis-server, and an Orders
// API that verifies every JWT through the issuer's JWKS. Three instances of the service share the
// Redis; a burst of requests goes through all of them. Exits 1 unless the whole fleet made exactly
// one token request, every call succeeded and Redis holds no token in clear.
import { randomBytes } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { clientCredentials } from '@tokenstash/core'
import { Redis } from 'ioredis'
import { startIssuer } from '../../../test/support/issuer'
import { startRedis } from '../../../test/support/redis'
import { startResourceServer } from '../../../test/support/resource-server'
import { type App, createApp } from './app'

// test/support finds redis-server and the issuer's dependencies from the repository root.
process.chdir(join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..'))

const INSTANCES = 3
const REQUESTS = 60
const out = (line = '') => process.stdout.write(`${line}\n`)

async function main(): Promise<number> {
  out('tokenstash example: a Node service calling a protected API through axios, token shared in Redis')
  const [issuer, redis] = await Promise.all([
    startIssuer({ accessTokenTtlSeconds: 3600, scopes: ['orders/read'] }),
    startRedis(),
  ])
  const ordersApi = await startResourceServer({
    issuer: issuer.issuer,
    jwksUri: issuer.jwksUri,
    audience: issuer.audience,
  })
  const clients: Redis[] = []
  const apps: App[] = []
  try {
    out(
      `  identity provider  ${issuer.tokenEndpoint} (client_secret_basic, form body, scopes: as Cognito's /oauth2/token)`,
    )
    out(`  Redis              ${redis.url}`)
    out(`  Orders API         ${ordersApi.url} (verifies the JWT through ${issuer.jwksUri})`)
    const { clientId, clientSecret } = issuer.clients.basic
    const encryptionKey = randomBytes(32).toString('base64')
    for (let i = 0; i < INSTANCES; i++) {
      // Each instance has its own Redis connection and memory, as separate pods would.
      const client = new Redis(redis.url, { lazyConnect: true })
      await client.connect()
      clients.push(client)
      const app = createApp({
        // What cognito({ domain, clientId, clientSecret, scopes }) builds, pointed at the embedded server.
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
        ordersApiUrl: ordersApi.url,
      })
      await new Promise<void>((resolve) => app.server.listen(0, '127.0.0.1', resolve))
      apps.push(app)
    }
    const urls = apps.map((a) => `http://127.0.0.1:${(a.server.address() as AddressInfo).port}`)
    out(`  service            ${INSTANCES} instances: ${urls.join(', ')}`)
    out()

    const statuses = await Promise.all(
      Array.from({ length: REQUESTS }, (_, i) =>
        fetch(`${urls[i % INSTANCES]}/orders/${1000 + i}`).then((r) => r.status),
      ),
    )
    const ok = statuses.filter((s) => s === 200).length
    const tokenRequests = await issuer.tokenRequests()
    const verified = ordersApi.log().filter((r) => r.verdict === 'valid').length
    const stored = await clients[0]!.keys('tokenstash:*')
    const values = await Promise.all(stored.map((k) => clients[0]!.get(k)))
    const inClear = ordersApi.tokensSeen().some((t) => values.some((v) => v?.includes(t)))

    out(`${REQUESTS} requests across ${INSTANCES} instances: ${ok} answered 200`)
    out(`Orders API: ${verified} requests with a verified token, ${ordersApi.requests() - verified} rejected`)
    out(
      `token requests at the identity provider: ${tokenRequests} (memory-only caching: ${INSTANCES}, none: ${REQUESTS})`,
    )
    out(`Redis: ${stored.length} key(s) ${stored.join(', ')}; token in clear: ${inClear ? 'YES' : 'no'}`)
    const pass = ok === REQUESTS && tokenRequests === 1 && verified === REQUESTS && !inClear
    out(pass ? 'OK' : 'FAILED')
    return pass ? 0 : 1
  } finally {
    await Promise.all(apps.map((a) => new Promise((resolve) => a.server.close(resolve))))
    await Promise.all(clients.map((c) => c.quit()))
    await ordersApi.stop()
    await redis.stop()
    await issuer.stop()
  }
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(error)
    process.exit(1)
  },
)
