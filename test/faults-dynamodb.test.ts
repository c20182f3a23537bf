import { randomBytes } from 'node:crypto'
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { clientCredentials, createTokenProvider, type TokenEvent, type TokenSource } from '@tokenstash/core'
import { dynamoDbStore } from '@tokenstash/store-dynamodb'
import nock from 'nock'
import { type DynamoServer, startDynamo } from './support/dynamodb'
import { type Issuer, startIssuer } from './support/issuer'

// The DynamoDB endpoint goes away while a fleet is in the middle of a cold burst, then comes back.

const INSTANCES = 20
const TABLE = 'outage-tokens'

let issuer: Issuer
let dynamo: DynamoServer

beforeAll(async () => {
  nock.disableNetConnect()
  nock.enableNetConnect('127.0.0.1')
  ;[issuer, dynamo] = await Promise.all([startIssuer({ accessTokenTtlSeconds: 300 }), startDynamo()])
  await dynamo.createTable(TABLE)
}, 60_000)

afterAll(async () => {
  await Promise.all([issuer?.stop(), dynamo?.stop()])
  nock.enableNetConnect()
})

// `stalled`: the endpoint first stops answering (SIGSTOP: connections open, no reply) so every
// first read outlasts storeTimeoutMs and is abandoned, then dies; as a loaded machine once did.
describe.each([
  { stalled: false, storeTimeoutMs: 5_000 },
  { stalled: true, storeTimeoutMs: 1_000 },
])(
  'a fleet sharing DynamoDB when the endpoint stops mid-burst (stalled first: $stalled)',
  ({ stalled, storeTimeoutMs }) => {
    it('should serve every caller, fetch at most once per instance, and use the table again after a restart', async () => {
      const { clientId, clientSecret } = issuer.clients.basic
      const encryptionKey = randomBytes(32).toString('base64')
      const namespace = `outage-${randomBytes(4).toString('hex')}`
      let skew = 0
      const now = () => Date.now() + skew
      let killed: Promise<void> | undefined
      const events: TokenEvent[] = []
      const clients: DynamoDBClient[] = []
      const instance = (stopServerOnFetch: boolean) => {
        const client = dynamo.makeClient({ maxAttempts: 1 })
        clients.push(client)
        const real = clientCredentials({ tokenEndpoint: issuer.tokenEndpoint, clientId, clientSecret, now })
        const source: TokenSource = {
          id: real.id,
          async fetchToken(signal) {
            if (stopServerOnFetch) {
              killed ??= dynamo.kill()
              await killed
            }
            return real.fetchToken(signal)
          },
        }
        return createTokenProvider({
          source,
          store: dynamoDbStore({ client, tableName: TABLE }),
          encryptionKey,
          namespace,
          now,
          storeTimeoutMs,
          onEvent: (e) => events.push(e),
        })
      }
      try {
        const fleet = Array.from({ length: INSTANCES }, () => instance(true))
        await issuer.resetCounts()
        if (stalled) dynamo.freeze()
        const results = await Promise.allSettled(fleet.map((p) => p.getToken()))
        expect(killed).toBeDefined()
        expect(results.filter((r) => r.status === 'rejected')).toEqual([])
        const burst = await issuer.tokenRequests()
        expect(burst).toBeGreaterThanOrEqual(1)
        expect(burst).toBeLessThanOrEqual(INSTANCES)
        const storeErrors = events.filter((e) => e.type === 'store-error')
        expect(storeErrors.length).toBeGreaterThan(0)
        if (stalled) expect(storeErrors[0]!.message).toMatch(/took longer than storeTimeoutMs/)
        // A StoreError names the operation and the error type, nothing from the request: the SDK's
        // error, or the provider's own timeout when the endpoint (or a loaded machine) answered
        // nothing within storeTimeoutMs before it died.
        for (const e of storeErrors) {
          expect(e.message).toMatch(
            /^(DynamoDB \w+ on table outage-tokens failed \((E[A-Z]+|\w+Error)\); |Store \w+ took longer than storeTimeoutMs \(\d+ ms\)$)/,
          )
        }

        // dynalite keeps its tables in memory: a restart is an empty server, as after losing a table.
        await dynamo.restart()
        await dynamo.createTable(TABLE)
        skew += 6_000
        const refreshed = await fleet[0]!.getToken({ forceRefresh: true })
        expect(events.some((e) => e.type === 'store-recovered')).toBe(true)
        const newcomer = instance(false)
        const before = await issuer.tokenRequests()
        expect(await newcomer.getToken()).toBe(refreshed)
        expect(await issuer.tokenRequests()).toBe(before)
        expect(newcomer.stats()).toMatchObject({ l2Hits: 1, fetches: 0 })
        const text = JSON.stringify(events)
        for (const s of [clientSecret, refreshed]) expect(text).not.toContain(s)
      } finally {
        for (const c of clients) c.destroy()
      }
    })
  },
)
