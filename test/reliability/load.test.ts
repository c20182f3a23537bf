import { randomBytes } from 'node:crypto'
import { Agent } from 'node:http'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { attachToken } from '@tokenstash/axios'
import { clientCredentials, createTokenProvider, type TokenEvent, type TokenStore } from '@tokenstash/core'
import { redisStore } from '@tokenstash/store-redis'
import axios from 'axios'
import Redis from 'ioredis'
import { lambdaContext } from '../../packages/middy/test/lambda'
import { startFakeIdp } from '../support/fake-idp'
import { type Issuer, startIssuer } from '../support/issuer'
import { invokeOnce, ordersHandler } from '../support/lambda-runtime'
import { credentialsOf, FULL_PROFILE, scenarioResults, slowStore, TokenAudit } from '../support/reliability'
import { startResourceServer } from '../support/resource-server'
import { useServers } from '../support/servers'
import { startTcpProxy } from '../support/tcp-proxy'

// Load and lifecycle: a fleet of 100 providers under 10,000 concurrent calls for several token
// lifetimes with a store restart; a storm of 401s after a revocation; a Lambda container frozen for
// an hour past its token's expiry and thawed with a dead socket to the store, simulated in-process
// by moving the clock (lambda-freeze.test.ts freezes real child processes with SIGSTOP, for seconds).

const results = scenarioResults('load')
// Sizes of the full profile (docs/RELIABILITY.md) and of the short one `npm test` runs.
const CALLS_PER_PROVIDER = FULL_PROFILE ? 100 : 20
const STORM = FULL_PROFILE ? 1_000 : 300
const encryptionKey = randomBytes(32).toString('base64')

const servers = useServers({ redis: true })

/** A full collection, when the flag can be set (it can in a plain Node process and in jest). */
function collect(): () => void {
  setFlagsFromString('--expose-gc')
  return runInNewContext('gc') as () => void
}

async function heapUsed(): Promise<number> {
  const gc = collect()
  for (let i = 0; i < 3; i++) {
    gc()
    await new Promise((r) => setImmediate(r))
  }
  return process.memoryUsage().heapUsed
}

describe(`100 providers sharing Redis under ${100 * CALLS_PER_PROVIDER} concurrent getToken() calls`, () => {
  it('should fail no call and stay within one token request per refresh cycle (+1 for a store restart)', async () => {
    const TTL = 4
    const PROVIDERS = 100
    const PER_PROVIDER = CALLS_PER_PROVIDER
    const LIFETIMES = 4
    const issuer = await startIssuer({ accessTokenTtlSeconds: TTL })
    const clients = Array.from({ length: PROVIDERS }, () => new Redis(servers.redis.url))
    try {
      const { clientId, clientSecret } = issuer.clients.basic
      const namespace = `soak-${randomBytes(4).toString('hex')}`
      const events: TokenEvent[] = []
      const providers = clients.map((client) =>
        createTokenProvider({
          source: clientCredentials({ tokenEndpoint: issuer.tokenEndpoint, clientId, clientSecret }),
          store: redisStore({ client }),
          encryptionKey,
          namespace,
          onEvent: (e) => e.type !== 'hit-memory' && events.push(e),
          // One host clock: no skew to tolerate, so the 4 s tokens are shared through the store.
          clockSkewToleranceMs: 0,
        }),
      )
      const audit = new TokenAudit()
      let calls = 0
      let failed = 0
      const reasons = new Set<string>()
      const round = () =>
        Promise.all(
          providers.flatMap((p) =>
            Array.from({ length: PER_PROVIDER }, () => {
              calls++
              return p.getToken().then(
                (t) => audit.served(t),
                (err) => {
                  failed++
                  reasons.add(String(err?.code ?? err))
                },
              )
            }),
          ),
        )
      await round()
      await issuer.resetCounts()
      const before = await heapUsed()
      const started = Date.now()
      const endAt = started + LIFETIMES * TTL * 1000 + 500
      let restarted = false
      let rounds = 0
      while (Date.now() < endAt) {
        await round()
        rounds++
        if (!restarted && Date.now() - started > 1.5 * TTL * 1000) {
          restarted = true
          await servers.redis.restart()
        }
        await new Promise((r) => setTimeout(r, 100))
      }
      const elapsed = Date.now() - started
      const requests = await issuer.tokenRequests()
      const after = await heapUsed()
      // One request per refresh cycle for the whole fleet: a cycle lasts at least
      // (refreshRatio − jitter) of the shortest lifetime (the JWT's whole-second exp makes it ≥ TTL − 1 s).
      const cycleMs = (0.75 - 0.05) * (TTL - 1) * 1000
      const bound = Math.ceil(elapsed / cycleMs) + 1 + 1
      const storeErrors = events.filter((e) => e.type === 'store-error').length
      const deltaMb = (after - before) / 2 ** 20
      results.record({
        scenario: `Soak: ${PROVIDERS} providers × ${PER_PROVIDER} concurrent calls, Redis restarted once`,
        fault: `${TTL} s tokens for ${(elapsed / 1000).toFixed(1)} s (${(elapsed / (TTL * 1000)).toFixed(1)} lifetimes), redis-server restarted empty once`,
        invocations: calls,
        failed,
        ...(reasons.size ? { failedWith: [...reasons] } : {}),
        tokenRequests: requests,
        recoveryMs: null,
        badTokensServed: audit.bad,
        notes: `${rounds} rounds of ${PROVIDERS * PER_PROVIDER} calls; thrift bound ${bound}; ${storeErrors} store-error events; heap ${(before / 2 ** 20).toFixed(1)} → ${(after / 2 ** 20).toFixed(1)} MB (Δ ${deltaMb.toFixed(1)} MB)`,
      })
      expect(restarted).toBe(true)
      expect(failed).toBe(0)
      expect(audit.bad).toBe(0)
      expect(requests).toBeLessThanOrEqual(bound)
      // A leak of even 32 bytes per call would grow the heap by more than this over the run's calls.
      expect(deltaMb).toBeLessThan((calls * 32) / 2 ** 20)
    } finally {
      for (const c of clients) c.disconnect()
      await issuer.stop()
    }
  }, 120_000)
})

describe('a storm of 401s after the API revoked the token', () => {
  let issuer: Issuer
  beforeAll(async () => {
    issuer = await startIssuer({ accessTokenTtlSeconds: 300 })
  })
  afterAll(() => issuer?.stop())

  // A loaded 2-core machine answers a few hundred of these requests a second: the timeout is
  // generous, the assertions are on counts.
  it.each([
    ['all at once, Redis store', 0, 0],
    ['arrivals spread over 50 ms, store with 3 ms latency', 50, 3],
  ])(
    `should refetch exactly once and answer all ${STORM} requests: %s`,
    async (name, spreadMs, latencyMs) => {
      const api = await startResourceServer({
        issuer: issuer.issuer,
        jwksUri: issuer.jwksUri,
        audience: issuer.audience,
      })
      const client = new Redis(servers.redis.url)
      const agent = new Agent({ keepAlive: true, maxSockets: 64 })
      try {
        const { clientId, clientSecret } = issuer.clients.basic
        const store: TokenStore = redisStore({ client })
        const provider = createTokenProvider({
          source: clientCredentials({ tokenEndpoint: issuer.tokenEndpoint, clientId, clientSecret }),
          store: latencyMs ? slowStore(store, latencyMs) : store,
          encryptionKey,
          namespace: `storm-${randomBytes(4).toString('hex')}`,
        })
        const instance = axios.create({ baseURL: api.url, httpAgent: agent })
        attachToken(instance, provider)
        await instance.get('/orders/0')
        const [revoked] = api.tokensSeen()
        api.reject(revoked!)
        await issuer.resetCounts()
        api.reset()
        const started = Date.now()
        const settled = await Promise.allSettled(
          Array.from({ length: STORM }, async (_, i) => {
            if (spreadMs) await new Promise((r) => setTimeout(r, (i * spreadMs) / STORM))
            return instance.get(`/orders/${i}`)
          }),
        )
        const elapsed = Date.now() - started
        const failed = settled.filter((r) => r.status === 'rejected').length
        const log = api.log()
        const rejected = log.filter((r) => r.status === 401).length
        const requests = await issuer.tokenRequests()
        const [refetch] = await issuer.tokenRequestLog()
        results.record({
          scenario: `401 storm: ${STORM} requests, ${name}`,
          fault: 'the API revoked the cached token just before',
          invocations: settled.length,
          failed,
          tokenRequests: requests,
          recoveryMs: elapsed,
          // A rejected token served as the final answer: a request that ended in a 401.
          badTokensServed: settled.filter(
            (r) =>
              r.status === 'rejected' && axios.isAxiosError(r.reason) && r.reason.response?.status === 401,
          ).length,
          notes: `${log.length} API requests: ${rejected} answered 401 with the revoked token, each replayed once; the one refetch reached the IdP ${refetch ? refetch.at - started : '?'} ms after the storm began; recovery = time for all ${STORM} to be answered (mostly axios and the API sharing one jest process); bad = requests that ended in a 401`,
        })
        expect(failed).toBe(0)
        expect(requests).toBe(1)
        // No loop: each request reached the API at most twice.
        expect(log.length).toBeLessThanOrEqual(2 * STORM)
        expect(log.length - rejected).toBe(STORM)
        expect(new Set(api.tokensSeen()).size).toBe(2)
      } finally {
        agent.destroy()
        client.disconnect()
        await api.stop()
      }
    },
    120_000,
  )
})

describe('a Lambda container frozen for an hour (in-process, virtual clock) past its token expiry and thawed with a dead socket to Redis', () => {
  it('should serve a fresh token on the first invocation after thaw and pay at most one storeTimeoutMs', async () => {
    // One virtual clock for the identity provider, the container and the API; the freeze moves it.
    let shift = 0
    const now = () => Date.now() + shift
    const idp = await startFakeIdp({ ttlSeconds: 300, now })
    const proxy = await startTcpProxy(servers.redis.port)
    const client = new Redis(proxy.port, '127.0.0.1')
    client.on('error', () => {})
    const storeTimeoutMs = 300
    let pending = 0
    const inner = redisStore({ client })
    // Counts store calls still unanswered when an invocation returns (one per dead round trip).
    const counted: TokenStore = {
      get: (k) => track(inner.get(k)),
      set: (k, v, t) => track(inner.set(k, v, t)),
      delete: (k, e) => track(inner.delete(k, e)),
      acquireLease: (k, o, t) => track(inner.acquireLease(k, o, t)),
      releaseLease: (k, o) => track(inner.releaseLease(k, o)),
    }
    function track<T>(p: Promise<T>): Promise<T> {
      pending++
      return p.finally(() => pending--)
    }
    try {
      const events: TokenEvent[] = []
      const ordersApiToken = createTokenProvider({
        source: clientCredentials({ ...credentialsOf(idp), now }),
        store: counted,
        encryptionKey,
        namespace: `lambda-${randomBytes(4).toString('hex')}`,
        storeTimeoutMs,
        backgroundRefresh: false,
        now,
        onEvent: (e) => events.push(e),
      })
      const handler = ordersHandler(ordersApiToken, { disablePrefetch: true })
      const audit = new TokenAudit(now)
      const run = async () => {
        const invocation = await invokeOnce(handler, ordersApiToken, {}, lambdaContext({ now }))
        expect(invocation.error).toBeUndefined()
        // Store calls that timed out before the invocation returned: each cost it one storeTimeoutMs.
        const timedOut = invocation.storeErrors
        return { token: audit.served(invocation.token!), ms: invocation.durationMs, pending, timedOut }
      }
      const first = await run()
      await client.ping()

      // Frozen for an hour: timers do not run, and the socket to Redis is dead on thaw (the NAT
      // or the server dropped it) without the container knowing: packets go nowhere.
      proxy.applyToOpen('blackhole')
      shift += 3_600_000
      const thawed = await run()
      const later = [await run(), await run()]
      shift += 6_000
      const afterBackOff = await run()
      results.record({
        scenario: 'Lambda freeze/thaw with a dead store socket (in-process, 1 h virtual freeze)',
        fault: 'container frozen 1 h (token expired), socket to Redis blackholed on thaw, storeTimeoutMs 300',
        invocations: 5,
        failed: 0,
        tokenRequests: idp.requests(),
        recoveryMs: thawed.ms,
        badTokensServed: audit.bad,
        notes: `first invocation after thaw took ${thawed.ms} ms, waiting out ${thawed.timedOut} store timeout(s), with ${thawed.pending} store call(s) left hanging; next ${later.map((r) => r.ms).join(', ')} ms; after the store back-off ${afterBackOff.ms} ms (${afterBackOff.pending} hanging)`,
      })
      expect(thawed.token).not.toBe(first.token)
      expect(audit.bad).toBe(0)
      // The invocation waits out one store call on the dead socket; the provider then skips reads,
      // and the token write it still tries is not waited for.
      expect(thawed.timedOut).toBeLessThanOrEqual(1)
      expect(later.every((r) => r.token === thawed.token)).toBe(true)
      expect(idp.requests()).toBe(2)
    } finally {
      client.disconnect()
      await proxy.stop()
      await idp.stop()
    }
  })
})
