import { randomBytes } from 'node:crypto'
import {
  clientCredentials,
  createTokenProvider,
  type TokenProvider,
  type TokenProviderOptions,
  TokenstashError,
} from '@tokenstash/core'
import { redisStore } from '@tokenstash/store-redis'
import type Redis from 'ioredis'
import { type FakeIdp, type IdpFault, startFakeIdp } from '../support/fake-idp'
import { credentialsOf, scenarioResults, TokenAudit } from '../support/reliability'
import { useServers } from '../support/servers'

// The identity provider misbehaves in every way a real one (or the network before it) does, in
// front of a small fleet sharing Redis. Every caller gets a usable token or a typed error, never
// an expired one, and the fleet is back to normal once the fault is over.

const FLEET = 4
const results = scenarioResults('idp-faults')
const encryptionKey = randomBytes(32).toString('base64')

const servers = useServers({ redis: true })
let redisClient: Redis

beforeAll(() => {
  redisClient = servers.redisClient()
})

function fleet(idp: FakeIdp, options: Partial<TokenProviderOptions> = {}): TokenProvider[] {
  const namespace = `idp-${randomBytes(4).toString('hex')}`
  return Array.from({ length: FLEET }, () =>
    createTokenProvider({
      source: clientCredentials({ ...credentialsOf(idp), timeoutMs: 500 }),
      store: redisStore({ client: redisClient }),
      encryptionKey,
      namespace,
      retry: { retries: 3, minTimeoutMs: 50, maxTimeoutMs: 200 },
      lease: { waitMs: 1_500 },
      ...options,
    }),
  )
}

interface Case {
  name: string
  fault: IdpFault
  count: number
  /** Invocations allowed to fail (with a typed error): faults the design does not retry. */
  mayFail: number
}

const cases: Case[] = [
  { name: 'HTTP 500 twice', fault: { kind: 'status', status: 500 }, count: 2, mayFail: 0 },
  {
    name: '429 with Retry-After: 1',
    fault: { kind: 'status', status: 429, retryAfterSeconds: 1 },
    count: 1,
    mayFail: 0,
  },
  { name: '429 without Retry-After, twice', fault: { kind: 'status', status: 429 }, count: 2, mayFail: 0 },
  { name: 'no answer past timeoutMs', fault: { kind: 'hang', delayMs: 1_500 }, count: 1, mayFail: 0 },
  { name: 'connection reset mid-body', fault: { kind: 'reset-mid-body' }, count: 2, mayFail: 0 },
  { name: 'truncated body (short of Content-Length)', fault: { kind: 'truncated' }, count: 2, mayFail: 0 },
  // A 200 that is not a token is not retried (DESIGN.md: network errors, 429 and 5xx are); the
  // callers sharing that one fetch get a TokenResponseError.
  { name: '200 with garbage bytes', fault: { kind: 'garbage' }, count: 1, mayFail: FLEET },
  { name: '200 with an HTML login page', fault: { kind: 'html' }, count: 1, mayFail: FLEET },
  { name: '200 with a token whose exp is past', fault: { kind: 'expired' }, count: 1, mayFail: FLEET },
]

describe('a fleet sharing Redis when the identity provider fails', () => {
  let idp: FakeIdp

  beforeAll(async () => {
    idp = await startFakeIdp({ ttlSeconds: 300 })
  })
  afterAll(() => idp?.stop())

  it.each(cases)(
    'should ride out $name without serving a bad token',
    async ({ name, fault, count, mayFail }) => {
      idp.reset()
      idp.failNext(count, fault)
      const audit = new TokenAudit()
      const providers = fleet(idp)
      const started = Date.now()
      let firstGood: number | undefined
      const settled = await Promise.allSettled(
        providers.map(async (p) => {
          const token = audit.served(await p.getToken())
          firstGood ??= Date.now()
          return token
        }),
      )
      const failures = settled.filter((r): r is PromiseRejectedResult => r.status === 'rejected')
      // Every failure is typed: a TokenstashError with a code, never a TypeError from a parser.
      for (const f of failures) expect(f.reason).toBeInstanceOf(TokenstashError)
      const failedWith = [...new Set(failures.map((f) => (f.reason as TokenstashError).code))]
      // Once the fault is over, everyone gets a token again.
      const after = await Promise.all(providers.map(async (p) => audit.served(await p.getToken())))
      firstGood ??= Date.now()
      const invocations = settled.length + after.length
      results.record({
        scenario: `IdP: ${name}`,
        fault: `${count}× ${fault.kind}${'status' in fault ? ` ${fault.status}` : ''}`,
        invocations,
        failed: failures.length,
        ...(failedWith.length ? { failedWith } : {}),
        tokenRequests: idp.requests(),
        recoveryMs: firstGood - started,
        badTokensServed: audit.bad,
      })
      expect(audit.bad).toBe(0)
      expect(failures.length).toBeLessThanOrEqual(mayFail)
      expect(after.every((t) => idp.issued().includes(t))).toBe(true)
      // The fault's requests, one good one, and at most one fail-open fetch per instance.
      expect(idp.requests()).toBeLessThanOrEqual(count + FLEET + 1)
    },
  )
})

describe('instances whose clocks are 30 s apart sharing Redis', () => {
  it.each([300, 3_600])(
    'should never serve an expired %i-second token, by the API clock, across three lifetimes',
    async (ttlSeconds) => {
      // One virtual timeline: the identity provider and the API read `real`; one instance runs
      // 30 s ahead, one 30 s behind. Time moves in steps; every instance asks at every step.
      let shift = 0
      const real = () => Date.now() + shift
      const idp = await startFakeIdp({ ttlSeconds, now: real })
      try {
        const audit = new TokenAudit(real)
        const namespace = `skew-${randomBytes(4).toString('hex')}`
        const instance = (offsetMs: number) =>
          createTokenProvider({
            source: clientCredentials({ ...credentialsOf(idp), now: () => real() + offsetMs }),
            store: redisStore({ client: redisClient }),
            encryptionKey,
            namespace,
            now: () => real() + offsetMs,
            backgroundRefresh: false,
          })
        const instances = [instance(30_000), instance(-30_000), instance(0)]
        const step = (ttlSeconds * 1000) / 60
        let invocations = 0
        let failed = 0
        for (let i = 0; i <= 180; i++) {
          shift = i * step
          for (const p of instances) {
            invocations++
            try {
              audit.served(await p.getToken())
            } catch {
              failed++
            }
          }
        }
        results.record({
          scenario: `Clock skew ±30 s, ${ttlSeconds} s tokens`,
          fault: 'instances at +30 s, −30 s and 0 s share a store',
          invocations,
          failed,
          tokenRequests: idp.requests(),
          recoveryMs: null,
          badTokensServed: audit.bad,
          notes: `${audit.tokens.size} distinct tokens over 3 lifetimes, checked against the API's clock at 1/60-lifetime steps`,
        })
        expect(audit.bad).toBe(0)
        expect(failed).toBe(0)
        // Each instance refreshes at most about once per lifetime (refreshRatio 0.75) and adopts
        // the others' tokens in between: well under one request per instance per step.
        expect(idp.requests()).toBeLessThanOrEqual(instances.length * 5)
      } finally {
        await idp.stop()
      }
    },
    60_000,
  )
})
