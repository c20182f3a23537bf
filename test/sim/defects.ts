import type { Op, Plan } from './fleet'
import type { Outcome } from './source'

// The six defects of issue 8, each a fixed schedule. `seen` is the violation the simulator
// reported for it on main at af7919e (before the rework of provider.ts/retry.ts); once fixed, the
// schedule holds every invariant.

export interface Defect {
  name: string
  seen: string
  plan: Plan
}

const HOUR = 3_600_000

/** What every fixed schedule has unless it says otherwise: one-minute tokens, a custom source, a fast store. */
export const base = {
  lifetimesMs: [60_000, 60_000],
  sourceKind: 'custom',
  store: true,
  storeLatencyMs: [1, 1],
  sourceLatencyMs: [50, 50],
  apiLatencyMs: [10, 10],
} as const satisfies Partial<Plan>

/** `base` with one-hour tokens. */
const hourly = { ...base, lifetimesMs: [HOUR, HOUR] } as const satisfies Partial<Plan>

/** `n` instances of key 0 without background refresh (Lambda's mode: the caller that wins refreshes inline). */
const inline = (n: number) => Array.from({ length: n }, () => ({ key: 0, background: false }))

type CallOptions = Omit<Extract<Op, { kind: 'call' }>, 'at' | 'kind' | 'inst'>

/** A getToken() of instance `inst` at `at` ms, with a deadline or a retry when `options` say so. */
const call = (at: number, inst = 0, options: CallOptions = {}): Op => ({ at, kind: 'call', inst, ...options })

/** One instance's one call, whose first token request is answered `outcome`: the call must still succeed. */
const oneCallDespite = (outcome: Outcome) =>
  ({
    instances: inline(1),
    script: [[{ outcome }]],
    ops: [call(0)],
    expect: { allSucceed: true },
  }) satisfies Partial<Plan>

/** The API revokes key 0's newest token at `at` ms. */
const revoke = (at: number): Op => ({ at, kind: 'revoke', key: 0 })

export const DEFECTS: Defect[] = [
  {
    name: '1 unref’d retry backoff: a single 5xx on a cold fetch leaves the waiting caller with no timer',
    seen: "i0:call waiting with no ref'd timer or pending I/O: a Lambda invocation would end here (answered null)",
    plan: {
      ...base,
      seed: 1001,
      store: false,
      ...oneCallDespite('5xx'),
    },
  },
  {
    name: '2 rejected token adopted back from a 3 ms store: 8 requests 4 ms apart after a revocation',
    seen: 'i0 getToken returned token #1, which this instance rejected with invalidate() before the call',
    plan: {
      ...hourly,
      seed: 1002,
      storeLatencyMs: [3, 3],
      instances: [{ key: 0, background: true }],
      ops: [call(0), revoke(1_000), ...Array.from({ length: 8 }, (_, i) => call(1_000 + 4 * i))],
    },
  },
  {
    name: '3 lease losers fail while the winner succeeds after Retry-After',
    seen: 'i1 getToken failed (ERR_RATE_LIMITED: … asked clients to back off until …) although the scenario expects every caller to succeed',
    plan: {
      ...base,
      seed: 1003,
      storeLatencyMs: [2, 2],
      sourceLatencyMs: [100, 100],
      instances: inline(3),
      script: [[{ outcome: '429ra', retryAfterMs: 1_000 }]],
      ops: [0, 1, 2].map((inst) => call(inst, inst)),
      expect: { allSucceed: true },
    },
  },
  {
    name: '4 one slow store call on the winner (its double-check read) turns 1 request into N',
    seen: 'k0: 4 token requests > bound 2 (run 5062 ms, lifetime 60000 ms, …, store-fault allowance 1)',
    plan: {
      // Tokens long enough to be shared through the store (shorter ones each instance fetches itself).
      ...hourly,
      seed: 1004,
      instances: inline(4),
      ops: [
        { at: 0, kind: 'hang', inst: 0, method: 'get', nth: 1, afterLease: true },
        call(0),
        ...[1, 2, 3].map((inst) => call(5, inst)),
      ],
    },
  },
  {
    name: '5 a transport error with a circular property escapes untyped (clientCredentials with a custom fetch)',
    seen: 'i0 getToken rejected with an untyped error (TypeError: Converting circular structure to JSON …), not a TokenstashError',
    plan: {
      ...base,
      seed: 1005,
      sourceKind: 'http',
      ...oneCallDespite('circular'),
    },
  },
  {
    name: '6 a 429 without Retry-After is neither shared nor honoured',
    seen: "k0's token endpoint was called 185 ms before the retryAt that i0 was given at +2028 ms (RateLimitedError.retryAt: no instance calls before it)",
    plan: {
      ...base,
      seed: 1006,
      instances: inline(2),
      script: [Array.from({ length: 8 }, () => ({ outcome: '429' as const }))],
      ops: [call(0, 0, { retryOnFailMs: 10 }), call(5, 1, { retryOnFailMs: 10 })],
    },
  },
]

/**
 * Found by the random schedules on the reworked provider (55503bc..a902f76), kept as fixed cases.
 * `seen` is what the simulator reported there.
 */
export const FOUND: Defect[] = [
  {
    name: 'A a flight still running at invalidate(t) (its lease release hangs) hands t to callers who came after',
    seen: 'i0 getToken(after 401) returned token #1, which this instance rejected with invalidate() before the call (four random seeds had it while the simulator was built)',
    plan: {
      ...base,
      seed: 2001,
      instances: inline(1),
      ops: [
        { at: 0, kind: 'hang', inst: 0, method: 'releaseLease', nth: 1 },
        call(0),
        revoke(100),
        call(200),
      ],
    },
  },
  {
    name: 'B after invalidate(t) threw TokenRejectedError (the replacement was rejected too), t is still served',
    seen: 'i0 getToken returned token #2, which this instance rejected with invalidate() before the call (that invalidate() threw ERR_TOKEN_REJECTED and the token stayed in use) (two seeds of an earlier version of schedule.ts had it)',
    plan: {
      ...base,
      seed: 2002,
      instances: inline(1),
      ops: [call(0), revoke(100), call(200), revoke(300), call(400), call(500)],
    },
  },
]

/** The defaults and races section of issue 8, as fixed schedules (`seen`: on main at af7919e). */
export const RACES: Defect[] = [
  {
    name: 'R1 an identity provider answering in 6 s: 6 cold instances send one request',
    seen: 'k0: 6 token requests > bound 1 (run 11067 ms, lifetime 60000 ms, …)',
    plan: {
      ...hourly,
      seed: 3001,
      sourceLatencyMs: [6_000, 6_000],
      instances: inline(6),
      ops: [0, 1, 2, 3, 4, 5].map((inst) => call(inst * 10, inst)),
    },
  },
  {
    name: 'R2 a holder that failed fast (invalid_client) tells the losers: one request for 6 cold instances',
    seen: '6 token requests, the scenario allows 1',
    plan: {
      ...hourly,
      seed: 3002,
      instances: inline(6),
      script: [Array.from({ length: 6 }, () => ({ outcome: 'invalid_client' as const }))],
      ops: [0, 1, 2, 3, 4, 5].map((inst) => call(inst * 10, inst)),
      expect: { maxRequests: 1 },
    },
  },
  {
    name: 'R3 clock skew: a reader 30 s slow does not serve, past its real usableUntil, a token written by an instance 30 s fast',
    seen: 'i1 getToken returned token #1 996 ms after its usableUntil (…), and so on up to 30996 ms after it (expiresAt passed)',
    plan: {
      ...hourly,
      seed: 3003,
      instances: [
        { key: 0, background: false },
        { key: 0, background: true },
      ],
      clockOffsetsMs: [30_000, -30_000],
      ops: [
        call(0),
        call(1_000, 1),
        // Every refresh fails from before refreshAt on, so the reader keeps the token it has.
        { at: 0.6 * HOUR, kind: 'sourceFault', key: 0, outcome: '5xx', ms: HOUR },
        ...[-90, -60, -45, -31, -30, -29, -15, -1, 0, 1, 15, 29, 30].map((s) => call(HOUR + s * 1_000, 1)),
      ],
    },
  },
]

/**
 * Defects 1, 2, 3 and 5 of issue 16, as fixed schedules. `seen` is the violation the simulator
 * reported for each on main at 8fff98d (before the owned leases, deadlines and invalidate fixes).
 */
export const ISSUE16: Defect[] = [
  {
    name: '16.1 a failure marker from a former lease holder (frozen past its lease) fails the waiters of the live one',
    seen: "at +46005 ms: i2 getToken failed (ERR_TOKEN_ENDPOINT) at +40042 ms while waiting on i1's lease, and i1's attempt went on to write its token: only the current holder's failure may fail its waiters",
    plan: {
      ...base,
      seed: 4001,
      instances: inline(3),
      // i0's request fails; i1's, sent once i0's lease has expired under it, takes 15 s and succeeds.
      script: [[{ outcome: '5xx' }, { outcome: 'ok', latencyMs: 15_000 }]],
      ops: [
        call(0),
        // i0 holds the lease and waits on its request: paused for 40 s (SIGSTOP, a frozen container).
        { at: 20, kind: 'freeze', inst: 0, ms: 40_000 },
        call(31_000, 1),
        call(31_100, 2),
      ],
    },
  },
  {
    name: '16.2 in Lambda (inline refresh) a refresh with a hanging identity provider holds up callers that hold a valid token',
    seen: "i0 getToken was still waiting at its deadline (500 ms, Middy's time cap) holding token #1 (usable 719993 ms before expiry): a refresh held it up; and 'i0 getToken failed with its AbortSignal's reason at its deadline (1000 ms) holding token #1 (…)', the same at 300 ms",
    plan: {
      ...hourly,
      seed: 4002,
      instances: inline(1),
      script: [[{ outcome: 'ok' }, { outcome: 'ok', latencyMs: 20_000 }]],
      ops: [
        call(0),
        // Three invocations in the refresh window: an AbortSignal, Middy's time cap, and both again.
        call(0.8 * HOUR, 0, { deadlineMs: 1_000, abort: true }),
        call(0.8 * HOUR + 10, 0, { deadlineMs: 500 }),
        call(0.8 * HOUR + 2_000, 0, { deadlineMs: 300, abort: true }),
      ],
    },
  },
  {
    name: '16.3 an acquireLease landing after storeTimeoutMs leaves a lease nobody releases',
    seen: 'a lease of i0 (granted at +1201 ms, landing after its client gave up) outlives its attempt: held 30000 ms more while i0 has nothing left to run',
    plan: {
      ...base,
      seed: 4003,
      instances: inline(2),
      ops: [
        // A throttled conditional put retried by the SDK: it lands 1.2 s later, whatever the client did.
        { at: 0, kind: 'hang', inst: 0, method: 'acquireLease', nth: 1, ms: 1_200, ignoresAbort: true },
        call(0),
        revoke(3_000),
        call(4_000, 1),
      ],
    },
  },
  {
    name: '16.5 invalidate() is undone by a getToken() that reads the store while the (slower) delete is under way',
    seen: 'i0 getToken returned token #1, which an invalidate() on this instance dropped before the call',
    plan: {
      ...base,
      seed: 4005,
      deleteLatencyMs: [300, 300],
      instances: inline(1),
      ops: [call(0), { at: 1_000, kind: 'invalidateAll', inst: 0 }, call(1_010), call(1_400)],
    },
  },
]
