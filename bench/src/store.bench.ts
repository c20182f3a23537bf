// Store hit path: what a container whose memory is empty pays to get the fleet's token from the
// shared store (read, decrypt the JWE, check it, adopt it), against the raw client call that reads
// the same value (Redis GET, DynamoDB GetItem). Each provider call is the first call of a fresh
// provider, built before the clock starts, so only the hit path is timed. Calls run one after the
// other (one container's view); rounds rotate which side goes first; medians are reported, after
// rounds that let both sides' code be optimised (a real cold container runs it unoptimised once:
// the warm-up rounds are printed too, but they measure how fast V8 warms up more than the path). A cold
// provider also writes a use mark once its token is served (a warmer's onlyIfUsedWithinMs reads
// it): off the token's path, so each side times its read alone and then, outside the clock, waits
// for one write (the provider's mark; the raw side writes the same kind of value itself): both
// sides run the same read-then-write pattern, and the writes are counted.
import { GetItemCommand } from '@aws-sdk/client-dynamodb'
import { clientCredentials, createTokenProvider, type TokenStore } from '@tokenstash/core'
import { dynamoDbStore } from '@tokenstash/store-dynamodb'
import { redisStore } from '@tokenstash/store-redis'
import { Redis } from 'ioredis'
import { fmt, machine, median } from './rounds'
import { startServers } from './servers'

const ROUNDS = 7
/** Rounds run before the timed ones, so both sides are timed with their code optimised (reported apart). */
const WARMUP = 3
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

/** The store, counting its writes and letting the loop wait, off the clock, for the last one. */
function counting(inner: TokenStore): {
  store: TokenStore
  writes: () => number
  settled: () => Promise<void>
} {
  let writes = 0
  let last: Promise<void> = Promise.resolve()
  const store: TokenStore = Object.create(inner)
  store.set = (...args) => {
    writes++
    last = inner.set(...args)
    return last
  }
  return { store, writes: () => writes, settled: () => last.catch(() => {}) }
}

async function compare(name: string, inner: TokenStore, raw: (key: string) => Promise<unknown>) {
  const { store, writes, settled } = counting(inner)
  const make = () => createTokenProvider({ source, store, encryptionKey })
  const first = make()
  await first.getToken() // fetches once and writes the store; every provider below hits it
  const key = first.key
  const sides: Array<[string, () => Promise<number>]> = [
    [
      `raw ${name} read`,
      async () => {
        let total = 0
        for (let i = 0; i < CALLS; i++) {
          const start = performance.now()
          await raw(key)
          total += performance.now() - start
          await inner.set(`${key}#bench-mark`, String(Date.now()), 60_000)
        }
        return total
      },
    ],
    [
      'provider getTokenSet() from the store',
      async () => {
        const providers = Array.from({ length: CALLS }, make)
        let total = 0
        for (const p of providers) {
          const start = performance.now()
          await p.getTokenSet()
          total += performance.now() - start
          await settled()
        }
        return total
      },
    ],
  ]
  const all: number[][] = [[], []]
  for (let round = 0; round < WARMUP + ROUNDS; round++)
    for (let k = 0; k < sides.length; k++) {
      const i = (k + round) % sides.length
      all[i]!.push(await sides[i]![1]())
    }
  const warming = all.map((side) => side.slice(0, WARMUP))
  const ms = all.map((side) => side.slice(WARMUP))
  const perRound = ms[1]!.map((t, r) => t / ms[0]![r]!)
  out(
    `\n${name}: ${CALLS} sequential reads per side and round, median of ${ROUNDS} rounds after ${WARMUP} to warm up`,
  )
  for (const [i, [label]] of sides.entries()) {
    const m = median(ms[i]!)
    out(
      `  ${label.padEnd(40)} ${fmt((CALLS / m) * 1000).padStart(8)} reads/s   ${((m / CALLS) * 1000).toFixed(0).padStart(5)} µs each`,
    )
  }
  out(`  provider / raw time: ${median(perRound).toFixed(2)}× (target <= 1.30)`)
  const us = (t: number) => ((t / CALLS) * 1000).toFixed(0)
  out(
    `  while warming up (first ${WARMUP} rounds, code not yet optimised): raw ${warming[0]!.map(us).join(' / ')} µs, provider ${warming[1]!.map(us).join(' / ')} µs`,
  )
  out(
    `  writes per cold provider: ${((writes() - 1) / ((WARMUP + ROUNDS) * CALLS)).toFixed(2)} (its use mark, after its token)`,
  )
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
