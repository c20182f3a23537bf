import { randomBytes } from 'node:crypto'
import {
  type InvocationReport,
  type LambdaContainer,
  startLambdaContainer,
} from '../support/lambda-container'
import { scenarioResults, TokenAudit } from '../support/reliability'
import { useServers } from '../support/servers'
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy'

// The Lambda lifecycle for real: two containers, each a node process running the Middy handler
// with m2mToken and a Redis store reached through its own TCP proxy (its own NAT mapping), fed
// short-lived tokens by oidc-provider. Between invocations a container is frozen with SIGSTOP, as
// Lambda does (its timers genuinely stop), for longer than a token's lifetime, and thawed with
// SIGCONT: either after another container refreshed the shared token meanwhile, or with its socket
// to Redis dead (blackholed: open, but nothing answers, as after a NAT dropped it).
// The long virtual freeze (an hour, by clock injection, in one process) is in load.test.ts.

const results = scenarioResults('lambda-lifecycle')
const TTL_SECONDS = 3
const STORE_TIMEOUT_MS = 1_000
// A thaw comes this long after the token's exp (the child's own reading of it), and at least a
// whole lifetime after the freeze began: the token is dead by any clock, skew allowances included.
const PAST_EXPIRY_MS = 1_500

const servers = useServers({ issuer: { accessTokenTtlSeconds: TTL_SECONDS }, redis: true, api: true })
const proxies: TcpProxy[] = []
const containers: LambdaContainer[] = []
let a: LambdaContainer
let b: LambdaContainer
let proxyA: TcpProxy

beforeAll(async () => {
  servers.onStop(async () => {
    // SIGCONT before SIGKILL, whatever state a failed test left them in.
    await Promise.all(containers.map((c) => c.stop()))
    await Promise.all(proxies.map((p) => p.stop()))
  })
  const { issuer, redis } = servers
  const { clientId, clientSecret } = issuer.clients.basic
  const config = {
    tokenEndpoint: issuer.tokenEndpoint,
    clientId,
    clientSecret,
    namespace: `freeze-${randomBytes(4).toString('hex')}`,
    encryptionKey: randomBytes(32).toString('base64'),
    storeTimeoutMs: STORE_TIMEOUT_MS,
  }
  proxies.push(await startTcpProxy(redis.port), await startTcpProxy(redis.port))
  proxyA = proxies[0]!
  const started = await Promise.allSettled(
    proxies.map((proxy) => startLambdaContainer({ ...config, redisPort: proxy.port })),
  )
  for (const s of started) if (s.status === 'fulfilled') containers.push(s.value)
  for (const s of started) if (s.status === 'rejected') throw s.reason
  ;[a, b] = containers as [LambdaContainer, LambdaContainer]
}, 60_000)

/** Resolves once the wall clock reads `at` (a condition on the clock, not a guessed sleep). */
async function until(at: number): Promise<void> {
  while (Date.now() < at) await new Promise((r) => setTimeout(r, at - Date.now()))
}

/**
 * Freezes `container` (SIGSTOP) until every token in `held` has been expired for `PAST_EXPIRY_MS`
 * (their exp as the containers read it) and a whole token lifetime has passed, runs `beforeThaw`
 * while it is still stopped, and thaws it (SIGCONT). Resolves with how long it was frozen and how
 * long after the last exp it was thawed.
 */
async function freezePastExpiry(
  container: LambdaContainer,
  held: InvocationReport[],
  beforeThaw: () => unknown,
): Promise<{ frozenMs: number; pastExpiryMs: number }> {
  const exps = held.map((r) => r.exp)
  if (!exps.every((exp) => typeof exp === 'number')) throw new Error('a held token has no exp')
  const lastExp = Math.max(...(exps as number[]))
  await container.freeze()
  const frozenAt = Date.now()
  await until(Math.max(lastExp, frozenAt + TTL_SECONDS * 1000) + PAST_EXPIRY_MS)
  await beforeThaw()
  await container.thaw()
  const thawedAt = Date.now()
  return { frozenMs: thawedAt - frozenAt, pastExpiryMs: thawedAt - lastExp }
}

/** What the API said about each token (every verdict must be `valid`). */
async function verdicts(tokens: string[]): Promise<string[]> {
  servers.api.reset()
  for (const token of tokens) {
    const res = await fetch(`${servers.api.url}/orders/1`, { headers: { authorization: `Bearer ${token}` } })
    await res.arrayBuffer()
  }
  return servers.api.log().map((r) => r.verdict)
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`
const summary = (r: InvocationReport) => `${r.durationMs} ms (${r.events.join(', ')})`

/** The invocation's token, counted by `audit` as served when the container returned it. */
function served(audit: TokenAudit, report: InvocationReport): string {
  if (report.error || report.token === undefined) {
    throw new Error(`invocation ${report.id} failed: ${JSON.stringify(report.error)}`)
  }
  return audit.served(report.token, report.returnedAt)
}

describe('Lambda containers frozen with SIGSTOP past their token expiry', () => {
  it('should adopt on thaw the token another container refreshed in the store while it was frozen', async () => {
    const audit = new TokenAudit()
    const before = [await a.invoke(), await b.invoke()]
    const held = before.map((r) => served(audit, r))
    let refresher: InvocationReport | undefined
    // Container A, still running, is invoked past the expiry: it refreshes and writes the store.
    const freeze = await freezePastExpiry(b, before, async () => {
      await servers.issuer.resetCounts()
      refresher = await a.invoke()
    })
    const fresh = served(audit, refresher!)
    const thawed = await b.invoke()
    const adopted = served(audit, thawed)
    const later = [await b.invoke(), await b.invoke()]
    for (const r of later) served(audit, r)
    const requests = await servers.issuer.tokenRequests()
    const apiVerdicts = await verdicts([fresh, adopted])
    results.record({
      scenario: 'Real freeze (SIGSTOP), another container refreshed meanwhile',
      fault: `container B (a child process) frozen ${seconds(freeze.frozenMs)} with ${TTL_SECONDS} s tokens, thawed ${seconds(freeze.pastExpiryMs)} after its token's exp; container A refreshed during the freeze; B's socket to Redis fine`,
      invocations: 7,
      failed: [...before, refresher!, thawed, ...later].filter((r) => r.error).length,
      tokenRequests: requests,
      recoveryMs: thawed.durationMs,
      badTokensServed: audit.bad + apiVerdicts.filter((v) => v !== 'valid').length,
      notes: `B's first invocation after thaw: ${summary(thawed)}, ${thawed.storeErrors} store errors; next ${later.map(summary).join(', ')}; the only token request was A's; the API judged A's and B's tokens ${apiVerdicts.join(', ')}`,
    })

    expect(refresher!.events).toContain('fetch')
    expect(held).not.toContain(fresh)
    // B's first invocation after the thaw: A's token from the store, not its own expired one, no fetch.
    expect(adopted).toBe(fresh)
    expect(thawed.events).toContain('hit-store')
    expect(thawed.events).not.toContain('fetch')
    expect(thawed.storeErrors).toBe(0)
    expect(requests).toBe(1)
    for (const r of later) {
      expect(r.token).toBe(adopted)
      expect(r.events).toEqual(['hit-memory'])
    }
    expect(apiVerdicts).toEqual(['valid', 'valid'])
    expect(audit.bad).toBe(0)
  }, 60_000)

  it('should fetch a fresh token on thaw over a dead store socket, paying one storeTimeoutMs', async () => {
    const audit = new TokenAudit()
    const before = await a.invoke()
    const held = served(audit, before)
    // A live socket to Redis, which dies while the container sleeps.
    expect(proxyA.open()).toBeGreaterThan(0)
    const freeze = await freezePastExpiry(a, [before], async () => {
      proxyA.applyToOpen('blackhole')
      await servers.issuer.resetCounts()
    })
    const thawed = await a.invoke()
    const fresh = served(audit, thawed)
    const later = [await a.invoke(), await a.invoke()]
    for (const r of later) served(audit, r)
    const requests = await servers.issuer.tokenRequests()
    const apiVerdicts = await verdicts([fresh])
    results.record({
      scenario: 'Real freeze (SIGSTOP), dead socket to Redis on thaw',
      fault: `container (a child process) frozen ${seconds(freeze.frozenMs)} with ${TTL_SECONDS} s tokens, thawed ${seconds(freeze.pastExpiryMs)} after its token's exp; its Redis connection blackholed while frozen; storeTimeoutMs ${STORE_TIMEOUT_MS}`,
      invocations: 4,
      failed: [before, thawed, ...later].filter((r) => r.error).length,
      tokenRequests: requests,
      recoveryMs: thawed.durationMs,
      badTokensServed: audit.bad + apiVerdicts.filter((v) => v !== 'valid').length,
      notes: `first invocation after thaw: ${summary(thawed)}, ${thawed.storeErrors} store call(s) timed out during it; next ${later.map(summary).join(', ')}; the API judged the new token ${apiVerdicts.join(', ')}`,
    })

    expect(fresh).not.toBe(held)
    expect(thawed.events).toContain('fetch')
    // The dead socket was really hit, and it cost one store call's timeout, no more: the provider
    // then skips reads, takes no lease, and does not wait for the token write it still tries.
    expect(thawed.storeErrors).toBe(1)
    expect(thawed.storeErrorMessages).toEqual([expect.stringContaining('longer than storeTimeoutMs')])
    expect(requests).toBe(1)
    for (const r of later) {
      expect(r.token).toBe(fresh)
      expect(r.events).toEqual(['hit-memory'])
    }
    expect(apiVerdicts).toEqual(['valid'])
    expect(audit.bad).toBe(0)
  }, 60_000)
})
