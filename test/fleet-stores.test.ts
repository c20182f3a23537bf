import { randomBytes } from 'node:crypto'
import { clientCredentials, createTokenProvider, type TokenProvider } from '@tokenstash/core'
import { connectStore, type StoreConnection } from './support/fleet'
import type { Issuer } from './support/issuer'
import { randomKey } from './support/proxy-client'
import { useServers } from './support/servers'

// A fleet of provider instances (each its own memory tier, its own store client, its own source),
// as many Lambda containers would be, sharing one real store and one real OAuth2 server. What is
// counted is what the server saw.

const INSTANCES = 50
/** The loop test: short token lifetimes, so that several pass in one run. */
const LOOP = { ttlSeconds: 4, runMs: 10_000, instances: INSTANCES }
/**
 * The loop test on the emulator. The lifetime is longer: a winner's path is about eight store calls
 * in a row, each queued behind 49 pollers in one dynalite process, and a cold burst was seen to take
 * over 4 s on a loaded 2-core CI machine, outliving a 4 s token (which the provider then refuses to
 * serve, as it must). With 10 s tokens the run is longer so that it still spans several lifetimes.
 * And fewer instances loop: with 50, the refreshing holder's store calls queued behind the others'
 * polls in one dynalite process until refreshes landed 3-6 s after expiry on a loaded machine
 * (callers waited; none was served an expired token). The cold burst keeps 50.
 */
const EMULATOR_LOOP = { ttlSeconds: 10, runMs: 28_000, instances: 20 }
const REFRESH_RATIO = 0.75
const TABLE = 'fleet-tokens'

interface Backend {
  name: string
  connect(): StoreConnection
  /**
   * dynalite and 50 AWS SDK clients in one process on a shared 2-core machine answer in tens to
   * hundreds of ms under load, where DynamoDB answers in single-digit ms. A refresh can then land
   * late, which lowers the count; the thrift bound (at most one more than the formula) still holds.
   */
  slowEmulator?: boolean
}

const servers = useServers({
  /** Long-lived tokens: a cold burst must not outlive its token, however slow the shared machine is. */
  issuer: { accessTokenTtlSeconds: 300 },
  issuers: {
    /** Short-lived tokens, so one test spans several lifetimes. */
    short: { accessTokenTtlSeconds: LOOP.ttlSeconds },
    /** Short-lived tokens for the loop test on the emulator (see EMULATOR_LOOP). */
    emulator: { accessTokenTtlSeconds: EMULATOR_LOOP.ttlSeconds },
  },
  redis: true,
  redisCluster: true,
  dynamo: { tables: [TABLE] },
})
const encryptionKey = randomKey()

/** The loop test's shape on `backend`, and the issuer of its short-lived tokens. */
const loopShape = (backend: Backend) =>
  backend.slowEmulator
    ? { ...EMULATOR_LOOP, server: servers.issuers.emulator }
    : { ...LOOP, server: servers.issuers.short }

const backends: Backend[] = [
  { name: 'Redis (single node)', connect: () => connectStore(servers, 'redis') },
  { name: 'Redis (3-node cluster)', connect: () => connectStore(servers, 'redisCluster') },
  { name: 'DynamoDB (dynalite)', connect: () => connectStore(servers, 'dynamo', TABLE), slowEmulator: true },
]

/** Store calls and token requests of the fleet still in flight. */
let busy = 0
function counted<T extends object>(target: T): T {
  return new Proxy(target, {
    get(obj, prop, receiver) {
      const value = Reflect.get(obj, prop, receiver)
      if (typeof value !== 'function') return value
      return (...args: unknown[]) => {
        busy++
        try {
          return Promise.resolve(value.apply(obj, args)).finally(() => busy--)
        } catch (err) {
          busy--
          throw err
        }
      }
    },
  })
}

/**
 * Background refreshes started by the last calls of a test may still be polling or fetching when
 * it ends; closing the clients under them would make them fail open and fetch after the test.
 * Waits until nothing has been in flight for a while (longer than the longest lease poll).
 */
async function quiesce(limitMs = 30_000): Promise<void> {
  const until = Date.now() + limitMs
  let quietSince = Date.now()
  while (Date.now() < until) {
    if (busy > 0) quietSince = Date.now()
    else if (Date.now() - quietSince >= 500) return
    await new Promise((r) => setTimeout(r, 25))
  }
}

describe.each(backends)('a fleet sharing $name', (backend) => {
  const closers: (() => void)[] = []
  afterEach(async () => {
    await quiesce()
    for (const close of closers.splice(0)) close()
  }, 40_000)

  async function fleet(
    server: Issuer,
    namespace: string,
    jitter?: number,
    instances = INSTANCES,
  ): Promise<TokenProvider[]> {
    const { clientId, clientSecret } = server.clients.basic
    const stores = Array.from({ length: instances }, () => {
      const { store, close } = backend.connect()
      closers.push(close)
      return store
    })
    // Each container connects its client at init, on a CPU of its own. Here 50 clients share two
    // cores with the servers, so they connect (and the SDK resolves its endpoint) before the burst;
    // otherwise the first store calls would time out and the test would measure CPU, not the lease.
    await Promise.all(stores.map((store) => store.get('warm-up:nothing')))
    return stores.map((store) =>
      createTokenProvider({
        source: counted(clientCredentials({ tokenEndpoint: server.tokenEndpoint, clientId, clientSecret })),
        store: counted(store),
        encryptionKey,
        namespace,
        refreshRatio: REFRESH_RATIO,
        // 50 instances, their clients and three servers share two cores here (dynalite alone answers
        // only a few hundred requests/s), while each container has a CPU of its own and DynamoDB or
        // Redis answer in single-digit ms. Store calls therefore queue for a while; the bounds are
        // raised so that queueing is not taken for an outage, which fails open by design (one fetch
        // per instance) and is tested in faults-*.test.ts.
        storeTimeoutMs: 10_000,
        lease: { waitMs: 20_000 },
        jitter,
        // The instances run on one host, one clock: no skew to tolerate. With the default ±30 s,
        // tokens living under 160 s (these live 4-10 s) are not shared through the store at all.
        clockSkewToleranceMs: 0,
      }),
    )
  }

  // Each test gets its own namespace, so nothing cached by an earlier test (or backend) is found.
  const namespace = () => `fleet-${randomBytes(4).toString('hex')}`

  // The timeout is a backstop, not a bound: connecting 50 SDK clients to one dynalite process took
  // over 30 s on this 2-core machine while other test runs shared it.
  it(`should cause exactly one token request when ${INSTANCES} cold instances start at once`, async () => {
    const { issuer } = servers
    const providers = await fleet(issuer, namespace())
    await issuer.resetCounts()
    const tokens = await Promise.all(providers.map((p) => p.getToken()))
    expect(await issuer.tokenRequests()).toBe(1)
    expect(new Set(tokens).size).toBe(1)
    const stats = providers.map((p) => p.stats())
    expect(stats.reduce((n, s) => n + s.fetches, 0)).toBe(1)
    expect(stats.reduce((n, s) => n + s.storeErrors, 0)).toBe(0)
  }, 90_000)

  it('should ask for about one token per 0.75 lifetime while the fleet calls getToken in a loop', async () => {
    // No jitter: every instance reaches refreshAt together, the hardest case for the lease, and no
    // instance refreshes before 0.75 of the lifetime, so the count can be held to the formula.
    const { server, runMs, instances } = loopShape(backend)
    const providers = await fleet(server, namespace(), 0, instances)
    await server.resetCounts()
    const lifetimes = new Map<string, number>()
    let calls = 0
    let failures = 0
    let servedUnusable = 0
    // The first token (one request, as above) starts the run; the loop then spans runMs.
    await Promise.all(providers.map((p) => p.getToken()))
    const end = Date.now() + runMs
    await Promise.all(
      providers.map(async (p) => {
        while (Date.now() < end) {
          try {
            const set = await p.getTokenSet()
            calls++
            lifetimes.set(set.accessToken, set.expiresAt - set.issuedAt)
            if (set.expiresAt <= Date.now()) servedUnusable++
          } catch {
            failures++
          }
          await new Promise((r) => setTimeout(r, 5 + Math.random() * 20))
        }
      }),
    )
    const ended = Date.now()
    const log = await server.tokenRequestLog()
    const requests = log.length
    // Runtime counts from the first token request: connecting 50 clients is not token lifetime.
    const runtime = ended - (log[0]?.at ?? ended)
    const meanLifetime = [...lifetimes.values()].reduce((a, b) => a + b, 0) / lifetimes.size
    const expected = runtime / (REFRESH_RATIO * meanLifetime)
    const report = {
      requests,
      expected,
      runtime,
      lifetimes: [...lifetimes.values()],
      at: log.map((r) => r.at - log[0]!.at),
    }
    // What the server saw, in the output of a failing run.
    if (Math.abs(requests - expected) > 1) console.warn(JSON.stringify(report))
    expect(failures).toBe(0)
    expect(servedUnusable).toBe(0)
    // The loop ran through every lifetime: at least one call per instance per lifetime. (How many
    // more depends on how long callers wait for a refresh on a loaded machine, not on the fleet.)
    expect(calls).toBeGreaterThan(instances * Math.floor(runMs / meanLifetime))
    // Several lifetimes passed, so refreshes (not just the first fetch) are what is counted.
    expect(runtime / meanLifetime).toBeGreaterThan(2.5)
    // Never more than one request beyond runtime / (0.75 × lifetime): the fleet refreshes as one.
    expect(requests).toBeLessThanOrEqual(expected + 1)
    // And no fewer than one less: refreshes happen at 0.75 of the lifetime, not at expiry. On the
    // emulator a late refresh is the emulator's; there the floor is one token per lifetime.
    expect(requests).toBeGreaterThanOrEqual(
      backend.slowEmulator ? Math.floor(runtime / meanLifetime) : expected - 1,
    )
    // Every token the server issued reached the fleet (one may still be in flight at the end).
    expect(lifetimes.size).toBeGreaterThanOrEqual(requests - 1)
  }, 90_000)
})
