import type { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import type { TokenSource } from '@tokenstash/core'
import { dynamoDbStore } from '@tokenstash/store-dynamodb'
import { expectEveryCallerServed, expectServedFromStore, fleetTimeline } from './support/fleet'
import { useServers } from './support/servers'

// The DynamoDB endpoint goes away while a fleet is in the middle of a cold burst, then comes back.

const INSTANCES = 20
const TABLE = 'outage-tokens'

const servers = useServers({ issuer: { accessTokenTtlSeconds: 300 }, dynamo: { tables: [TABLE] } })

// `stalled`: the endpoint first stops answering (SIGSTOP: connections open, no reply) so every
// first read outlasts storeTimeoutMs and is abandoned, then dies; as a loaded machine once did.
describe.each([
  { stalled: false, storeTimeoutMs: 5_000 },
  { stalled: true, storeTimeoutMs: 1_000 },
])(
  'a fleet sharing DynamoDB when the endpoint stops mid-burst (stalled first: $stalled)',
  ({ stalled, storeTimeoutMs }) => {
    it('should serve every caller, fetch at most once per instance, and use the table again after a restart', async () => {
      const { issuer, dynamo } = servers
      const timeline = fleetTimeline(issuer, 'outage')
      const { events } = timeline
      let killed: Promise<void> | undefined
      const clients: DynamoDBClient[] = []
      const instance = (stopServerOnFetch: boolean) => {
        const client = servers.dynamoClient({ maxAttempts: 1 })
        clients.push(client)
        const real = timeline.source()
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
        return timeline.instance(dynamoDbStore({ client, tableName: TABLE }), { source, storeTimeoutMs })
      }
      try {
        const fleet = Array.from({ length: INSTANCES }, () => instance(true))
        await issuer.resetCounts()
        if (stalled) dynamo.freeze()
        await expectEveryCallerServed(issuer, fleet)
        expect(killed).toBeDefined()
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
        timeline.skipBackOff()
        const refreshed = await fleet[0]!.getToken({ forceRefresh: true })
        expect(events.some((e) => e.type === 'store-recovered')).toBe(true)
        await expectServedFromStore(issuer, instance(false), refreshed)
        timeline.expectNoLeak([refreshed])
      } finally {
        for (const c of clients) c.destroy()
      }
    })
  },
)
