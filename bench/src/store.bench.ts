// Store hit path: what a container whose memory is empty pays to get the fleet's token from the
// shared store (read, decrypt the JWE, check it, adopt it), against the raw client call that reads
// the same value (Redis GET, DynamoDB GetItem). Each provider call is the first call of a fresh
// provider, built before the clock starts, so only the hit path is timed. Calls run one after the
// other (one container's view); rounds rotate which side goes first; medians are reported.
import { GetItemCommand } from '@aws-sdk/client-dynamodb'
import { clientCredentials, createTokenProvider, type TokenStore } from '@tokenstash/core'
import { dynamoDbStore } from '@tokenstash/store-dynamodb'
import { redisStore } from '@tokenstash/store-redis'
import { Redis } from 'ioredis'
import { fmt, machine, median } from './rounds'
import { startServers } from './servers'

const ROUNDS = 7
const CALLS = 400
const out = (line = '') => process.stdout.write(`${line}\n`)

out(machine())
const TABLE = 'tokenstash-hit'
const servers = await startServers(TABLE)
const { issuer, redis, dynamo } = servers
const redisClient = new Redis(redis.url)
const dynamoClient = dynamo.makeClient()
const encryptionKey = Buffer.alloc(32, 5).toString('base64')
const { clientId, clientSecret, authMethod } = issuer.clients.basic
const source = clientCredentials({ tokenEndpoint: issuer.tokenEndpoint, clientId, clientSecret, authMethod })

async function compare(name: string, store: TokenStore, raw: (key: string) => Promise<unknown>) {
  const make = () => createTokenProvider({ source, store, encryptionKey })
  const first = make()
  await first.getToken() // fetches once and writes the store; every provider below hits it
  const key = first.key
  const sides: Array<[string, () => Promise<number>]> = [
    [
      `raw ${name} read`,
      async () => {
        const start = performance.now()
        for (let i = 0; i < CALLS; i++) await raw(key)
        return performance.now() - start
      },
    ],
    [
      'provider getTokenSet() from the store',
      async () => {
        const providers = Array.from({ length: CALLS }, make)
        const start = performance.now()
        for (const p of providers) await p.getTokenSet()
        return performance.now() - start
      },
    ],
  ]
  const ms: number[][] = [[], []]
  for (let round = 0; round < ROUNDS; round++)
    for (let k = 0; k < sides.length; k++) {
      const i = (k + round) % sides.length
      ms[i]!.push(await sides[i]![1]())
    }
  const perRound = ms[1]!.map((t, r) => t / ms[0]![r]!)
  out(`\n${name}: ${CALLS} sequential reads per side and round, median of ${ROUNDS} rounds`)
  for (const [i, [label]] of sides.entries()) {
    const m = median(ms[i]!)
    out(
      `  ${label.padEnd(40)} ${fmt((CALLS / m) * 1000).padStart(8)} reads/s   ${((m / CALLS) * 1000).toFixed(0).padStart(5)} µs each`,
    )
  }
  out(`  provider / raw time: ${median(perRound).toFixed(2)}× (target <= 1.30)`)
  if ((await issuer.tokenRequests(clientId)) !== 1)
    throw new Error('a provider fetched instead of hitting the store')
  await issuer.resetCounts()
}

try {
  await compare('Redis', redisStore({ client: redisClient }), (key) => redisClient.get(`tokenstash:{${key}}`))
  await compare('DynamoDB', dynamoDbStore({ client: dynamoClient, tableName: TABLE }), (key) =>
    dynamoClient.send(
      new GetItemCommand({ TableName: TABLE, Key: { pk: { S: key } }, ConsistentRead: true }),
    ),
  )
} finally {
  redisClient.disconnect()
  dynamoClient.destroy()
  await servers.stop()
}
