import { randomBytes } from 'node:crypto'
import { type LambdaContainer, startLambdaContainer } from '../support/lambda-container'
import { credentialsOf, scenarioResults } from '../support/reliability'
import { useServers } from '../support/servers'

// Defect 1 of issue 16, as a fleet runs it: three Lambda containers (node processes running the
// Middy handler with m2mToken) share a real Redis, all with default options. A takes the lease and
// asks the identity provider, which holds the request; A is frozen with SIGSTOP (as Lambda freezes
// a container) for longer than its lease can last. B comes, waits for A, takes over and fetches; C
// comes and waits for B. A thaws, its request fails, and it writes its failure marker: C must not
// take A's failure for B's, and must get B's token.

const results = scenarioResults('heart')

const servers = useServers({ fakeIdp: { ttlSeconds: 300 }, redis: true })
const containers: LambdaContainer[] = []

beforeAll(async () => {
  servers.onStop(async () => {
    await Promise.all(containers.map((c) => c.stop()))
    servers.fakeIdp.release()
  })
  const config = {
    ...credentialsOf(servers.fakeIdp),
    redisPort: servers.redis.port,
    namespace: `frozen-holder-${randomBytes(4).toString('hex')}`,
    encryptionKey: randomBytes(32).toString('base64'),
    // The provider's default; the invocations get room enough for the library's own waits to show,
    // not Middy's time cap; no prefetch, so the containers ask in the order the test invokes them.
    storeTimeoutMs: 1_000,
    invocationTimeoutMs: 120_000,
    disablePrefetch: true,
  }
  const started = await Promise.allSettled([1, 2, 3].map(() => startLambdaContainer(config)))
  for (const s of started) if (s.status === 'fulfilled') containers.push(s.value)
  for (const s of started) if (s.status === 'rejected') throw s.reason
}, 90_000)

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((r) => setTimeout(r, 5))
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('a lease holder frozen with SIGSTOP past its lease, on real Redis with default options', () => {
  it("should give the waiters of the live holder its token, whatever the former holder's failure", async () => {
    const [a, b, c] = containers as [LambdaContainer, LambdaContainer, LambdaContainer]
    const idp = servers.fakeIdp
    idp.reset()
    idp.hold()
    const ranA = a.invoke()
    // A holds the lease: its token request has reached the identity provider.
    await until(() => idp.held() === 1)
    await a.freeze()
    const frozenAt = Date.now()
    const ranB = b.invoke()
    // B gave up waiting for A (its lease expired, or B's patience ran out) and asks itself.
    await until(() => idp.held() === 2)
    const takeOverMs = Date.now() - frozenAt
    const ranC = c.invoke()
    // C reaches the store and waits for B (a few polls).
    await pause(500)
    // A's request fails while A sleeps; A reads the answer when it thaws, and reports its failure.
    idp.answerHeld({ kind: 'status', status: 400 })
    await a.thaw()
    // C polls the store meanwhile (a failure marker lives 5 s); then the identity provider answers B.
    await pause(1_500)
    const releasedAt = Date.now()
    idp.release()
    const [ra, rb, rc] = await Promise.all([ranA, ranB, ranC])
    const requests = idp.requests()
    results.record({
      scenario: 'Lease holder frozen (SIGSTOP) past its lease, 3 containers on Redis',
      fault: `container A frozen holding the lease for ${((releasedAt - frozenAt) / 1000).toFixed(1)} s, its token request failed (400) while frozen; B took over, C waited on B; default options`,
      invocations: 3,
      failed: [rb, rc].filter((r) => r.error).length,
      failedWith: [rb, rc].flatMap((r) => (r.error ? [r.error.code ?? r.error.name] : [])),
      tokenRequests: requests,
      recoveryMs: takeOverMs,
      badTokensServed: 0,
      notes: `recovery = time from A's freeze to B's own token request (B no longer waiting for A); B: ${rb.error ? `failed (${rb.error.code})` : 'token'} ${rb.events.join(', ')}; C: ${rc.error ? `failed (${rc.error.code}: ${rc.error.message.slice(0, 80)})` : rc.token === rb.token ? "B's token" : 'another token'} ${rc.events.join(', ')}; A (the frozen one): ${ra.error ? `failed (${ra.error.code})` : 'token'}`,
    })

    expect(rb.error).toBeUndefined()
    expect(rc.error).toBeUndefined()
    expect(rc.token).toBe(rb.token)
    // One request from A (failed) and B's; C asked nobody.
    expect(requests).toBe(2)
  }, 120_000)
})
