import { randomBytes } from 'node:crypto'
import { ProvisionedThroughputExceededException } from '@aws-sdk/client-dynamodb'
import { clientCredentials, createTokenProvider, type TokenEvent } from '@tokenstash/core'
import { dynamoDbStore } from '@tokenstash/store-dynamodb'
import { countInFlight, credentialsOf, scenarioResults } from '../support/reliability'
import { useServers } from '../support/servers'

// Defect 3 of issue 16 on DynamoDB, with no network fault: the conditional PutItem that takes the
// lease is answered ProvisionedThroughputExceededException for its first 900 ms. The SDK retries it
// (3 attempts by default); an attempt can land after the provider gave up on the call
// (storeTimeoutMs), fetched and "released". On main at 8fff98d the lease then lived its whole ttl
// with nobody to release it: the next 401 on another container waited for a holder that did not
// exist. Now the late answer is awaited and a lease granted that late is released at once; the
// SDK is not given an abort signal (an aborted put that had landed lost its answer: a lease left
// behind on a loaded CI machine).

const results = scenarioResults('heart')
const TABLE = 'late-lease-tokens'
const THROTTLE_MS = 900

const servers = useServers({ fakeIdp: { ttlSeconds: 300 }, dynamo: { tables: [TABLE] } })

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((r) => setTimeout(r, 10))
}

describe('DynamoDB: the lease PutItem throttled for its first 900 ms', () => {
  it('should leave no live lease once getToken has returned, so the next 401 elsewhere does not wait for it', async () => {
    const namespace = `late-lease-${randomBytes(4).toString('hex')}`
    const encryptionKey = randomBytes(32).toString('base64')

    // Container A's client: the SDK's defaults (3 attempts, its own backoff for throttling).
    const throttledClient = servers.dynamo.makeClient()
    let throttleFrom: number | undefined
    let throttled = 0
    let leasePuts = 0
    const inFlight = countInFlight(throttledClient)
    // Below the SDK's retry middleware: each attempt passes here.
    throttledClient.middlewareStack.add(
      (next) => async (args) => {
        const input = args.input as { ConditionExpression?: string }
        if (input.ConditionExpression?.includes('attribute_not_exists')) {
          leasePuts++
          throttleFrom ??= Date.now()
          if (Date.now() - throttleFrom < THROTTLE_MS) {
            throttled++
            throw new ProvisionedThroughputExceededException({
              message: 'Rate exceeded (injected)',
              $metadata: { httpStatusCode: 400 },
            })
          }
        }
        return next(args)
      },
      { step: 'deserialize', name: 'throttleLeasePut' },
    )
    const plainClient = servers.dynamo.makeClient()
    const inspector = dynamoDbStore({ client: plainClient, tableName: TABLE })
    const eventsB: TokenEvent[] = []
    // B's calls too, so the test ends only once B's last one (its lease release) has landed: a
    // release still in flight when dynalite stops logged a store outage after the file ended.
    const clientB = servers.dynamo.makeClient()
    const inFlightB = countInFlight(clientB)
    const a = createTokenProvider({
      source: clientCredentials(credentialsOf(servers.fakeIdp)),
      store: dynamoDbStore({ client: throttledClient, tableName: TABLE }),
      encryptionKey,
      namespace,
    })
    const b = createTokenProvider({
      source: clientCredentials(credentialsOf(servers.fakeIdp)),
      store: dynamoDbStore({ client: clientB, tableName: TABLE }),
      encryptionKey,
      namespace,
      onEvent: (e) => eventsB.push(e),
    })
    try {
      servers.fakeIdp.reset()
      const startedA = Date.now()
      const tokenA = await a.getToken()
      const tookA = Date.now() - startedA
      const putsAtReturn = leasePuts
      // Every attempt the SDK still had to make has been made, and a lease granted late released:
      // polled for 2 s, well inside the lease's own ttl, so a lease left behind is seen.
      await until(() => inFlight() === 0)
      const returnedAt = Date.now()
      let lease = await inspector.get(`${a.key}#lease`)
      while (lease !== undefined && Date.now() - returnedAt < 2_000) {
        await new Promise((r) => setTimeout(r, 20))
        lease = await inspector.get(`${a.key}#lease`)
      }
      const leaseGoneAfterMs = Date.now() - returnedAt
      const putsAfterReturn = leasePuts

      // Another container holds the same token; the API rejects it (401).
      expect(await b.getToken()).toBe(tokenA)
      await b.invalidate(tokenA)
      const startedB = Date.now()
      const tokenB = await b.getToken()
      const tookB = Date.now() - startedB
      const leaseWaits = eventsB.filter((e) => e.type === 'lease-wait')
      results.record({
        scenario: 'DynamoDB lease put throttled 900 ms (late-landing acquire)',
        fault: `container A's conditional lease PutItem answered ProvisionedThroughputExceededException for ${THROTTLE_MS} ms (SDK defaults: 3 attempts), storeTimeoutMs default; then a 401 on container B`,
        invocations: 3,
        failed: 0,
        tokenRequests: servers.fakeIdp.requests(),
        recoveryMs: tookB,
        badTokensServed: 0,
        notes: `A's getToken took ${tookA} ms, ${throttled} attempt(s) throttled, ${putsAfterReturn} lease put attempt(s) in all (${putsAfterReturn - putsAtReturn} after A returned); lease left in the table after A returned: ${lease === undefined ? `none (gone ${leaseGoneAfterMs} ms after the SDK settled)` : 'yes'}; B's getToken after the 401 took ${tookB} ms with ${leaseWaits.length} lease wait(s)`,
      })

      expect(throttled).toBeGreaterThan(0)
      // No lease outlives the getToken() that asked for it (beyond its late answer's release).
      expect(lease).toBeUndefined()
      // B takes the lease at once: no wait for a holder that does not exist, one new token.
      expect(leaseWaits).toEqual([])
      expect(tokenB).not.toBe(tokenA)
      expect(servers.fakeIdp.requests()).toBe(2)
    } finally {
      await until(() => inFlight() === 0 && inFlightB() === 0)
      throttledClient.destroy()
      clientB.destroy()
      plainClient.destroy()
    }
  }, 90_000)
})
