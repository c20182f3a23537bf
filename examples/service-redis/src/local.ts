// `pnpm local` (or, from the repository root, `node scripts/run-ts.mjs examples/service-redis/src/local.ts`):
// runs the service on this machine against embedded servers on 127.0.0.1 — a real OAuth2 server
// (oidc-provider) configured as a Cognito app client would be, a real redis-server, and an Orders
// API that verifies every JWT through the issuer's JWKS. Three instances of the service share the
// Redis; a burst of requests goes through all of them. Exits 1 unless the whole fleet made exactly
// one token request, every call succeeded and Redis holds no token in clear.
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { randomKey } from '../../../test/support/proxy-client'
import { startServers } from '../../../test/support/servers'
import { startLocalFleet } from './local-fleet'

// test/support finds redis-server and the issuer's dependencies from the repository root.
process.chdir(join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..'))

const INSTANCES = 3
const REQUESTS = 60
const out = (line = '') => process.stdout.write(`${line}\n`)

async function main(): Promise<number> {
  out('tokenstash example: a Node service calling a protected API through axios, token shared in Redis')
  const servers = await startServers({
    issuer: { accessTokenTtlSeconds: 3600, scopes: ['orders/read'] },
    redis: true,
    api: true,
  })
  const { issuer, redis, api: ordersApi } = servers
  try {
    out(
      `  identity provider  ${issuer.tokenEndpoint} (client_secret_basic, form body, scopes: as Cognito's /oauth2/token)`,
    )
    out(`  Redis              ${redis.url}`)
    out(`  Orders API         ${ordersApi.url} (verifies the JWT through ${issuer.jwksUri})`)
    const fleet = await startLocalFleet({
      issuer,
      redisUrl: redis.url,
      ordersApiUrl: ordersApi.url,
      instances: INSTANCES,
      encryptionKey: randomKey(),
    })
    servers.onStop(() => fleet.close())
    const { urls, clients } = fleet
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
    await servers.stop()
  }
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(error)
    process.exit(1)
  },
)
