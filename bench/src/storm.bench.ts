// Cold storm: 10, 50 and 200 instances (containers) start at the same moment and each asks for the
// token once, sharing one store; token requests are counted at a real OAuth2 server. Side by side
// in one run: tokenstash on Redis and on DynamoDB (dynalite), the blog post's DynamoDB Scan
// approach (examples/fleet-demo/src/blog-cache.ts), and a cache per instance. The floor is 1.
// Every instance has its own provider and its own store client, as separate containers would.
import { DescribeTableCommand } from '@aws-sdk/client-dynamodb'
import { clientCredentials, createTokenProvider, type TokenStore } from '@tokenstash/core'
import { dynamoDbStore } from '@tokenstash/store-dynamodb'
import { redisStore } from '@tokenstash/store-redis'
import { Redis } from 'ioredis'
import { blogTokenCache } from '../../examples/fleet-demo/src/blog-cache'
import { machine } from './rounds'
import { startServers } from './servers'

const SIZES = process.env.STORM_SIZES ? process.env.STORM_SIZES.split(',').map(Number) : [10, 50, 200]
const out = (line = '') => process.stdout.write(`${line}\n`)

out(machine())
const TABLE = 'tokenstash-storm'
const servers = await startServers(TABLE)
const { issuer, redis, dynamo } = servers
const encryptionKey = Buffer.alloc(32, 3).toString('base64')
const { clientId, clientSecret, authMethod } = issuer.clients.basic
const source = () =>
  clientCredentials({ tokenEndpoint: issuer.tokenEndpoint, clientId, clientSecret, authMethod })
const closers: Array<() => unknown> = []
// Each container's store client is connected before the storm, as in its own init phase: on Lambda
// every container has its own CPU for that, here 200 of them would queue on 2 cores and the first
// store calls would time out (storeTimeoutMs) for want of CPU, not of coordination.
const warmups: Array<Promise<unknown>> = []

/** Token requests the OAuth2 server saw while `n` instances made by `make(i)` asked at once. */
async function storm(n: number, make: (i: number) => { getToken(): Promise<string> }): Promise<number> {
  const instances = Array.from({ length: n }, (_, i) => make(i))
  await Promise.all(warmups.splice(0))
  await issuer.resetCounts()
  const tokens = await Promise.all(instances.map((p) => p.getToken()))
  if (tokens.some((t) => typeof t !== 'string' || t.length < 20)) throw new Error('an instance got no token')
  return issuer.tokenRequests(clientId)
}

const events = new Map<string, number>()
const shared = (namespace: string, store: () => TokenStore) => () =>
  createTokenProvider({
    source: source(),
    store: store(),
    encryptionKey,
    namespace,
    onEvent: (e) => events.set(`${namespace} ${e.type}`, (events.get(`${namespace} ${e.type}`) ?? 0) + 1),
  })
const redisClient = () => {
  const client = new Redis(redis.url)
  closers.push(() => client.disconnect())
  warmups.push(client.ping())
  return client
}
const dynamoClient = () => {
  const client = dynamo.makeClient()
  closers.push(() => client.destroy())
  warmups.push(client.send(new DescribeTableCommand({ TableName: TABLE })))
  return client
}

try {
  const rows: Array<[number, number, number, number, number]> = []
  for (const n of SIZES) {
    const blogTable = `blog-storm-${n}`
    await dynamo.createTable(blogTable, { partitionKey: 'token' })
    const counters = { reads: 0, writes: 0 }
    rows.push([
      n,
      await storm(
        n,
        shared(`redis-${n}`, () => redisStore({ client: redisClient() })),
      ),
      await storm(
        n,
        shared(`dynamo-${n}`, () => dynamoDbStore({ client: dynamoClient(), tableName: TABLE })),
      ),
      await storm(n, () =>
        blogTokenCache({ source: source(), client: dynamoClient(), tableName: blogTable, counters }),
      ),
      await storm(n, () => createTokenProvider({ source: source() })),
    ])
    for (const close of closers.splice(0)) close()
  }
  out('\ncold storm: token requests when N instances start at once sharing one store (floor: 1)')
  out('  instances   tokenstash Redis   tokenstash DynamoDB   blog DynamoDB Scan   cache per instance')
  for (const [n, r, d, b, p] of rows)
    out(
      `  ${String(n).padStart(9)}   ${String(r).padStart(16)}   ${String(d).padStart(19)}   ${String(b).padStart(18)}   ${String(p).padStart(18)}`,
    )
  // Why a shared store saw more than one request: losers that waited past lease.waitMs, or store
  // calls past storeTimeoutMs (dynalite is one Node process; 200 new clients at once queue in it).
  out('  provider events (defaults: storeTimeoutMs 1 s, lease.waitMs 25 s; store clients connected first):')
  for (const [k, v] of events) if (!k.includes(' hit-')) out(`    ${k.padEnd(30)} ${v}`)
  const missed = rows.filter(([, r, d]) => r !== 1 || d !== 1)
  out(
    missed.length === 0
      ? '  target met: exactly 1 token request for every size with a shared store'
      : `  target missed at ${missed.map(([n]) => n).join(', ')} instances`,
  )
} finally {
  for (const close of closers) close()
  await servers.stop()
}
