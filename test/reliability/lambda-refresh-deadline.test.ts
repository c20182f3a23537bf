import { clientCredentials, createTokenProvider, type TokenEvent } from '@tokenstash/core'
import { lambdaContext } from '../../packages/middy/test/lambda'
import { invokeOnce, ordersHandler } from '../support/lambda-runtime'
import { credentialsOf, scenarioResults } from '../support/reliability'
import { useServers } from '../support/servers'

// Defect 2 of issue 16: in Lambda the refresh runs inline, for the caller that enters the refresh
// window. With the identity provider hanging, that caller must still get the token in memory (good
// for minutes) within its invocation's time cap, and so must the next ones; once the identity
// provider answers again, a refresh lands.

const results = scenarioResults('heart')
const TTL_SECONDS = 300
const INVOCATION_TIMEOUT_MS = 3_000

let shift = 0
const now = () => Date.now() + shift
const savedFunctionName = process.env.AWS_LAMBDA_FUNCTION_NAME
const servers = useServers({ fakeIdp: { ttlSeconds: TTL_SECONDS, now } })

beforeAll(() => {
  // As in Lambda: the provider refreshes inline.
  process.env.AWS_LAMBDA_FUNCTION_NAME = 'orders-sync'
  // Whatever a failed test left held is answered before the identity provider stops.
  servers.onStop(() => servers.fakeIdp.release())
})

afterAll(() => {
  if (savedFunctionName === undefined) delete process.env.AWS_LAMBDA_FUNCTION_NAME
  else process.env.AWS_LAMBDA_FUNCTION_NAME = savedFunctionName
})

interface Outcome {
  token?: string
  error?: string
  ms: number
}

describe('m2mToken in Lambda (inline refresh) with the identity provider hanging in the refresh window', () => {
  it('should serve the current token within each time cap, and refresh once the identity provider answers', async () => {
    const idp = servers.fakeIdp
    const events: TokenEvent[] = []
    const ordersApiToken = createTokenProvider({
      source: clientCredentials(credentialsOf(idp)),
      now,
      onEvent: (e) => events.push(e),
    })
    const handler = ordersHandler(ordersApiToken)
    const run = async (id: number): Promise<Outcome> => {
      const context = lambdaContext({ timeoutMs: INVOCATION_TIMEOUT_MS })
      const { token, error, durationMs } = await invokeOnce(handler, ordersApiToken, { id }, context)
      return error ? { error: error.name, ms: durationMs } : { token, ms: durationMs }
    }

    const warm: Outcome[] = []
    for (let id = 1; id <= 4; id++) warm.push(await run(id))
    const current = warm[0]!.token
    expect(current).toBeDefined()
    expect(warm.map((o) => o.token)).toEqual([current, current, current, current])

    // 80% of the lifetime later: past refreshAt (75%, minus jitter), 30 s before usableUntil.
    shift += 0.8 * TTL_SECONDS * 1000
    idp.hold()
    const inWindow: Outcome[] = []
    for (let id = 5; id <= 7; id++) inWindow.push(await run(id))
    const heldRequests = idp.held()

    // The identity provider answers again: the held request, or the retry after its timeout.
    const recoveredAt = Date.now()
    idp.release()
    const after: Outcome[] = []
    for (let id = 8; id < 8 + 40; id++) {
      const outcome = await run(id)
      after.push(outcome)
      if (outcome.error || outcome.token !== current) break
      await new Promise((r) => setTimeout(r, 500))
    }
    const refreshed = after.at(-1)!
    const recoveryMs = Date.now() - recoveredAt
    results.record({
      scenario: 'Lambda: identity provider hanging in the refresh window (inline refresh)',
      fault: `Middy invocations 5-7 (time cap ${INVOCATION_TIMEOUT_MS} ms each) at 80% of a ${TTL_SECONDS} s token's lifetime, every token request held unanswered; then answered again`,
      invocations: warm.length + inWindow.length + after.length,
      failed: [...inWindow, ...after].filter((o) => o.error).length,
      failedWith: [...inWindow, ...after].flatMap((o) => (o.error ? [o.error] : [])),
      tokenRequests: idp.requests(),
      recoveryMs,
      badTokensServed: 0,
      notes: `invocations 5, 6, 7 took ${inWindow.map((o) => `${o.ms} ms${o.error ? ` (${o.error})` : ''}`).join(', ')}; ${heldRequests} request(s) held; after recovery ${after.length} invocation(s) until the new token was served (recovery = until then)`,
    })

    for (const o of inWindow) {
      expect(o.error).toBeUndefined()
      expect(o.token).toBe(current)
    }
    expect(refreshed.error).toBeUndefined()
    expect(refreshed.token).not.toBe(current)
    expect(events.some((e) => e.type === 'refresh')).toBe(true)
  }, 90_000)
})
