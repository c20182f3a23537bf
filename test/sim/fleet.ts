import { AsyncLocalStorage } from 'node:async_hooks'
import { createHash } from 'node:crypto'
import {
  createTokenProvider,
  DEFAULTS,
  RateLimitedError,
  type TokenProvider,
  TokenstashError,
} from '@tokenstash/core'
import { int, mulberry32 } from '../support/prng'
import { installClock, type SimClock } from './clock'
import {
  httpSource,
  type Issued,
  type Outcome,
  type Request,
  type Scripted,
  type SourceSpec,
  simSource,
} from './source'
import { type ArmedHang, FaultyStore, type Grant, HANG_MS, type OutageKind, SLOW_MS } from './store'

// One schedule of the fleet simulator: N providers (each its own memory tier, one shared store,
// two keys) on the virtual clock, driven by a plan of operations, checked after every step
// against DESIGN.md's invariants. A plan is data: a seed makes one (schedule.ts), the defect
// cases are written by hand (defects.ts), and the same plan always runs the same way.

export type Op =
  /**
   * getToken; if the API answers 401 for it: invalidate(token) and getToken once more, as the axios
   * adapter does. With `deadlineMs`, the caller gives up then: through an AbortSignal (`abort`), or
   * as Middy's time cap does (the invocation fails; the call itself goes on).
   */
  | { at: number; kind: 'call'; inst: number; retryOnFailMs?: number; deadlineMs?: number; abort?: boolean }
  | { at: number; kind: 'getSet'; inst: number }
  | { at: number; kind: 'force'; inst: number }
  | { at: number; kind: 'invalidateAll'; inst: number }
  /** The API revokes the key's newest token: every later request with it gets 401. */
  | { at: number; kind: 'revoke'; key: number }
  /** For `ms`, every store call fails (error), hangs, or answers in 0.5-1.5 s (slow). */
  | { at: number; kind: 'outage'; ms: number; fault: OutageKind }
  /**
   * One store call of instance `inst` hangs: the `nth` next one (of `method`, when given). It answers
   * and lands `ms` late (30 s by default), even after the client gave up (`ignoresAbort`: even if it aborted).
   */
  | ({ at: number; kind: 'hang' } & ArmedHang)
  /** Instance `inst` is paused for `ms` (SIGSTOP, a frozen container): none of its timers fires, then all at once. */
  | { at: number; kind: 'freeze'; inst: number; ms: number }
  /** Instance `inst`'s store client is still connecting for `ms`: its calls wait, then go through. */
  | { at: number; kind: 'connecting'; inst: number; ms: number }
  /** The store restarts empty. */
  | { at: number; kind: 'restart' }
  /** For `ms`, reading a token answers the other key's entry. */
  | { at: number; kind: 'crossed'; ms: number }
  /** The key's token endpoint answers `outcome` for `ms`. */
  | { at: number; kind: 'sourceFault'; key: number; outcome: Outcome; ms: number }

export interface Plan {
  seed: number
  instances: { key: number; background: boolean }[]
  /** Token lifetime per key (whole seconds: the HTTP source sends expires_in). */
  lifetimesMs: number[]
  sourceKind: 'custom' | 'http'
  store: boolean
  storeLatencyMs: [number, number]
  sourceLatencyMs: [number, number]
  /** How long the API takes to answer a request made with the token (and say 401 to a revoked one). */
  apiLatencyMs: [number, number]
  /** Per instance, how far its clock is off true time (clock skew between hosts); none by default. */
  clockOffsetsMs?: number[]
  /** Deletes take this long (a delete slower than a concurrent read: calls reorder, as on DynamoDB). */
  deleteLatencyMs?: [number, number]
  /** Per key, what the first requests get, before fault windows and health. */
  script?: Scripted[][]
  ops: Op[]
  /** Scenario-specific expectations on top of the invariants. */
  expect?: { allSucceed?: boolean; maxRequests?: number }
}

export interface RunResult {
  seed: number
  violations: string[]
  /** Hash of the sequence of (instance, operation, outcome) events: equal hashes, same interleaving. */
  interleaving: string
  requests: number
  steps: number
  /** Every event with its virtual time, when asked for (replay). */
  trace: string[]
}

/**
 * Which instance the running code works for: every operation runs in its instance's context, so
 * each timer (the provider's, or simulated I/O) is counted for the instance that made it, as if
 * each instance were its own process.
 */
export const instanceContext = new AsyncLocalStorage<number>()

/** The virtual clock for `runPlan`, counting each timer for the instance that created it. */
export function installSimClock(): SimClock {
  return installClock(() => instanceContext.getStore())
}

const MAX_VIOLATIONS = 5
const DEADLINE = Symbol('deadline')
/** How long a caller holding a usable token may wait for an inline refresh, with a little room for timer order. */
const INLINE_WAIT_MS = ((DEFAULTS as { inlineRefreshWaitMs?: number }).inlineRefreshWaitMs ?? 0) + 10
const MAX_STEPS = 200_000
/** A caller still waiting this long after the last operation is stuck. */
const DRAIN_CAP_MS = 10 * 60_000
/** After the faults end, time for cooldowns and store skips to pass before the recovery check. */
const RECOVERY_AFTER_MS = 60_000
/**
 * A lease may outlive the attempt that asked for it (a release that failed, an acquire that landed
 * after its client gave up) by at most this much: "released or expires fast", a few seconds.
 */
export const ORPHAN_LEASE_MAX_MS = 10_000

/**
 * How far past its usableUntil (expiresAt − min(expirySkewMs, L/8), in true time) a token may be
 * served when instances' clocks are up to `spreadMs` apart. DESIGN.md: never at or after it.
 */
export function skewAllowanceMs(_lifetimeMs: number, _spreadMs: number): number {
  return 0
}

/** The margin a token read from the store gets for other hosts' clocks (2 × clockSkewToleranceMs). */
const STORE_CLOCK_MARGIN_MS = 2 * DEFAULTS.clockSkewToleranceMs
/** The expiry skew of a lifetime: expirySkewMs, at most L/8. */
const expirySkew = (lifetimeMs: number) => Math.min(DEFAULTS.expirySkewMs, lifetimeMs / 8)

/**
 * Whether instances share tokens of this lifetime through the store (core README, "Where this
 * differs"): only when the clock margin (`marginMs`) leaves half of the lifetime usable (160 s and
 * more with the defaults); shorter tokens are fetched by each instance for itself.
 */
export function sharedLifetime(lifetimeMs: number, marginMs: number): boolean {
  return expirySkew(lifetimeMs) + marginMs <= lifetimeMs / 2
}

interface Instance {
  n: number
  key: number
  provider: TokenProvider
  /** Token → sequence number of the first invalidate(token) call on this instance, and whether it threw. */
  rejected: Map<string, { seq: number; threw?: string }>
  /** Token → sequence number at which an invalidate() that dropped it resolved. */
  dropped: Map<string, number>
  /** Tokens an invalidate() was called for (resolved or not): this instance no longer holds them. */
  dropping: Set<string>
  /** The last token this instance returned to a caller. */
  last?: string
}

function describe(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`.slice(0, 200)
  return String(err).slice(0, 200)
}

/** Is this plan healthy (no store fault), and does the token endpoint fail in it? */
export function classify(plan: Plan): { storeFaults: boolean; sourceFaults: boolean } {
  // A client that connects within storeTimeoutMs is no fault: calls wait for it and go through.
  const slowest = Math.max(plan.storeLatencyMs[1], plan.deleteLatencyMs?.[1] ?? 0)
  const storeFaults = plan.ops.some(
    (o) =>
      o.kind === 'outage' ||
      o.kind === 'hang' ||
      o.kind === 'restart' ||
      o.kind === 'crossed' ||
      (o.kind === 'connecting' && o.ms + slowest >= DEFAULTS.storeTimeoutMs),
  )
  // A slow answer is still an answer: the endpoint counts as failing only when it refuses or breaks.
  const failing = (outcome: Outcome) => outcome !== 'ok' && outcome !== 'slow'
  const sourceFaults =
    plan.ops.some((o) => o.kind === 'sourceFault' && failing(o.outcome)) ||
    (plan.script ?? []).some((s) => s.some((x) => failing(x.outcome)))
  return { storeFaults, sourceFaults }
}

export interface RunOptions {
  /** Keep every event with its virtual time (for replay). */
  trace?: boolean
  /** Wraps each instance's provider: the checker's own tests use it to plant a known bug. */
  wrap?: (provider: TokenProvider, inst: number) => TokenProvider
}

/** Runs one plan on `clock` (from `installSimClock`) and returns what broke. */
export async function runPlan(plan: Plan, clock: SimClock, options: RunOptions = {}): Promise<RunResult> {
  const realRandom = Math.random
  // The provider draws jitter (refreshAt, polls, backoff) with Math.random: seeded, a seed replays exactly.
  Math.random = mulberry32(plan.seed ^ 0x5bd1e995)
  try {
    return await simulate(plan, clock, options)
  } finally {
    Math.random = realRandom
  }
}

async function simulate(plan: Plan, clock: SimClock, options: RunOptions): Promise<RunResult> {
  clock.reset()
  const t0 = clock.now()
  const rng = mulberry32(plan.seed ^ 0x9e3779b9)

  const { storeFaults, sourceFaults } = classify(plan)
  const mustSucceed = !sourceFaults || plan.expect?.allSucceed === true
  const violations: string[] = []
  const events: string[] = []
  const timed: string[] = []
  let seq = 0
  let steps = 0
  const rel = () => clock.now() - t0
  const trace = (event: string) => {
    events.push(event)
    if (options.trace) timed.push(`+${rel()}ms ${event}`)
  }
  const violation = (message: string) => {
    trace(`VIOLATION ${message}`)
    if (violations.length < MAX_VIOLATIONS) violations.push(`at +${rel()} ms: ${message}`)
  }

  // What callers were told: RateLimitedError.retryAt is the time before which no instance calls.
  const rateLimits: { key: number; inst: number; retryAt: number; at: number }[] = []
  // Ownership: per instance, the lease grant its last refused acquireLease lost to (it waits on that
  // holder), and each instance's latest grant. A waiter that fails while its holder's attempt goes on
  // to write a token failed because of someone else's failure.
  const waitingOn = new Map<number, Grant>()
  const latestGrant = new Map<number, number>()
  const suspects: { inst: number; via: string; code: string; at: number; holder: Grant }[] = []
  const reportedOrphans = new Set<number>()
  const world = {
    clock,
    rng,
    timeoutMs: DEFAULTS.storeTimeoutMs,
    issued: new Map<string, Issued>(),
    requests: [] as Request[],
    trace,
    onGrant(grant: Grant) {
      if (latestGrant.get(grant.inst) !== grant.id)
        trace(`i${grant.inst}:lease:granted${grant.late ? ':late' : ''}`)
      latestGrant.set(grant.inst, grant.id)
      waitingOn.delete(grant.inst)
    },
    onRefused(inst: number, holder: Grant | undefined) {
      if (holder && holder.inst !== inst) waitingOn.set(inst, holder)
    },
    onTokenWrite(inst: number) {
      for (let i = suspects.length - 1; i >= 0; i--) {
        const s = suspects[i]!
        if (s.holder.inst !== inst) continue
        suspects.splice(i, 1)
        if (latestGrant.get(inst) !== s.holder.id) continue
        violation(
          `i${s.inst} ${s.via} failed (${s.code}) at +${s.at - t0} ms while waiting on i${inst}'s lease, ` +
            `and i${inst}'s attempt went on to write its token: only the current holder's failure may fail its waiters`,
        )
      }
    },
    onRequest(request: Request) {
      // An instance that asks the endpoint itself waits on nobody (its failures are its own).
      const asking = instanceContext.getStore()
      if (asking !== undefined) waitingOn.delete(asking)
      if (storeFaults) return // a cooldown can be lost with the store; DESIGN.md promises sharing through it
      for (let i = rateLimits.length - 1; i >= 0; i--) {
        const rl = rateLimits[i]!
        if (rl.retryAt <= request.at) rateLimits.splice(i, 1)
        else if (rl.key === request.key) {
          rateLimits.splice(i, 1)
          violation(
            `k${rl.key}'s token endpoint was called ${rl.retryAt - request.at} ms before the retryAt that ` +
              `i${rl.inst} was given at +${rl.at - t0} ms (RateLimitedError.retryAt: no instance calls before it)`,
          )
        }
      }
    },
  }

  const specs: SourceSpec[] = plan.lifetimesMs.map((lifetimeMs, key) => ({
    key,
    lifetimeMs,
    latencyMs: plan.sourceLatencyMs,
    script: [...(plan.script?.[key] ?? [])],
    faults: [],
    healthy: false,
  }))
  const store = new FaultyStore(world, plan.storeLatencyMs, plan.deleteLatencyMs)
  const offsets = plan.instances.map((_, n) => plan.clockOffsetsMs?.[n] ?? 0)
  /** How far two instances' clocks can be apart, and one from true time. */
  const skewSpread = Math.max(...offsets) - Math.min(...offsets)
  const skewMax = Math.max(...offsets.map(Math.abs))
  const storeMargin = plan.clockOffsetsMs ? STORE_CLOCK_MARGIN_MS : 0
  const instances: Instance[] = plan.instances.map((spec, n) => {
    const offset = offsets[n]!
    const source = (plan.sourceKind === 'http' ? httpSource : simSource)(world, specs[spec.key]!, offset)
    const provider = createTokenProvider({
      source,
      store: plan.store ? store.view(n) : undefined,
      encryption: false,
      backgroundRefresh: spec.background,
      now: () => clock.now() + offset,
      // Plans without clock offsets run every instance on one clock: no skew to tolerate, so the
      // short lifetimes they use are shared (with the default ±30 s they would not be).
      ...(plan.clockOffsetsMs ? {} : { clockSkewToleranceMs: 0 }),
    })
    return {
      n,
      key: spec.key,
      provider: options.wrap?.(provider, n) ?? provider,
      rejected: new Map(),
      dropped: new Map(),
      dropping: new Set(),
    }
  })

  // ---- checks on what callers get -------------------------------------------------------------

  const served = (
    inst: Instance,
    token: string,
    callSeq: number,
    via: string,
    set?: { issuedAt: number; expiresAt: number },
  ) => {
    const now = clock.now()
    const info = world.issued.get(token)
    const who = `i${inst.n} ${via}`
    if (!info) return violation(`${who} returned a token no source issued`)
    trace(`i${inst.n}:${via}:ok#${info.n}`)
    if (info.key !== inst.key)
      violation(`${who} returned token #${info.n} of key ${info.key} under key ${inst.key}`)
    const skew = Math.min(DEFAULTS.expirySkewMs, info.lifetimeMs / 8)
    const usableUntil = info.expiresAt - skew
    if (now >= usableUntil + skewAllowanceMs(info.lifetimeMs, skewSpread)) {
      violation(
        `${who} returned token #${info.n} ${now - usableUntil} ms after its usableUntil ` +
          `(expiresAt ${now >= info.expiresAt ? 'passed' : 'not passed'}; lifetime ${info.lifetimeMs} ms, skew ${skew} ms` +
          `${skewSpread ? `, clocks ${skewSpread} ms apart` : ''})`,
      )
    }
    const dropped = inst.dropped.get(token)
    if (dropped !== undefined && callSeq > dropped) {
      violation(
        `${who} returned token #${info.n}, which an invalidate() on this instance dropped before the call`,
      )
    }
    inst.last = token
    waitingOn.delete(inst.n)
    const rejected = inst.rejected.get(token)
    if (rejected !== undefined && callSeq > rejected.seq) {
      violation(
        `${who} returned token #${info.n}, which this instance rejected with invalidate() before the call` +
          (rejected.threw ? ` (that invalidate() threw ${rejected.threw} and the token stayed in use)` : ''),
      )
    }
    // The times are the clock of whichever instance fetched it.
    if (
      set &&
      (set.expiresAt - set.issuedAt !== info.lifetimeMs || Math.abs(set.issuedAt - info.issuedAt) > skewMax)
    ) {
      violation(`${who} returned token #${info.n} with times that are not the issued ones`)
    }
  }

  /**
   * The token this instance surely still holds and may serve now (conservatively: before the earliest
   * usableUntil any instance's clock and the store's clock margin can give it), if any.
   */
  const usableHeld = (inst: Instance, token = inst.last): Issued | undefined => {
    const info = token === undefined ? undefined : world.issued.get(token)
    if (!token || !info || inst.rejected.has(token) || inst.dropping.has(token)) return undefined
    // Whichever margin the provider gives a token read from the store (capped at L/8 on main, not since).
    const margin = Math.max(
      Math.min(DEFAULTS.expirySkewMs + storeMargin, info.lifetimeMs / 8),
      sharedLifetime(info.lifetimeMs, storeMargin) ? expirySkew(info.lifetimeMs) + storeMargin : 0,
    )
    return clock.now() < info.expiresAt - margin - skewSpread - skewAllowanceMs(info.lifetimeMs, skewSpread)
      ? info
      : undefined
  }

  const delivered = new WeakMap<object, number>()
  const failed = (inst: Instance, err: unknown, callSeq: number, via: string) => {
    const who = `i${inst.n} ${via}`
    const deliverSeq = ++seq
    trace(`i${inst.n}:${via}:fail:${err instanceof TokenstashError ? err.code : 'untyped'}`)
    const holder = waitingOn.get(inst.n)
    if (holder && err instanceof TokenstashError)
      suspects.push({ inst: inst.n, via, code: err.code, at: clock.now(), holder })
    waitingOn.delete(inst.n)
    if (!(err instanceof TokenstashError)) {
      violation(`${who} rejected with an untyped error (${describe(err)}), not a TokenstashError`)
    } else {
      if (err.code === 'ERR_STORE')
        violation(`${who} failed with a store error: a store fault must degrade, not fail`)
      else if (mustSucceed && err.code !== 'ERR_TOKEN_REJECTED') {
        violation(
          `${who} failed (${err.code}: ${err.message.slice(0, 160)}) although ` +
            (sourceFaults
              ? 'the scenario expects every caller to succeed'
              : 'the token endpoint never failed'),
        )
      }
      if (err instanceof RateLimitedError) {
        // retryAt is on the instance's clock, maybe from another instance's (through the store): in
        // true time, the earliest it can mean.
        const retryAt = err.retryAt - offsets[inst.n]! - skewSpread
        rateLimits.push({ key: inst.key, inst: inst.n, retryAt, at: clock.now() })
      }
    }
    if (typeof err === 'object' && err !== null) {
      const first = delivered.get(err)
      if (first !== undefined && callSeq > first) {
        violation(`${who} got the very error an earlier call already got: a failure was cached`)
      } else if (first === undefined) delivered.set(err, deliverSeq)
    }
  }

  // ---- operations ---------------------------------------------------------------------------

  const pending = new Map<number, { inst: number; label: string }>()
  let nextCaller = 0
  const track = (inst: number, label: string, work: () => Promise<void>) => {
    const id = nextCaller++
    pending.set(id, { inst, label })
    trace(label)
    instanceContext
      .run(inst, async () => {
        // A paused instance takes the call once it resumes (a timer of its own: it moves to then).
        if (clock.frozen(inst)) await wait(0)
        await work()
      })
      .catch((err) => violation(`simulator error in ${label}: ${describe(err)}`))
      .finally(() => pending.delete(id))
  }
  const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

  /**
   * One getToken. With a deadline the caller stops waiting then (aborting its signal, or as Middy's
   * time cap does); a caller that held a usable token must have had one by then, and never fails.
   */
  const getToken = async (
    inst: Instance,
    via: string,
    opts: { forceRefresh?: boolean } = {},
    deadline?: { ms: number; abort?: boolean },
  ): Promise<string | undefined> => {
    const callSeq = ++seq
    const heldToken = opts.forceRefresh ? undefined : inst.last
    const held = heldToken === undefined ? undefined : usableHeld(inst, heldToken)
    // Held at the call and still usable now (a pause may have used up the rest of its life).
    const holding = () =>
      held && usableHeld(inst, heldToken)
        ? `holding token #${held.n} (usable ${held.expiresAt - clock.now()} ms before expiry)`
        : undefined
    const controller = deadline?.abort ? new AbortController() : undefined
    const settled = (
      controller
        ? inst.provider.getToken({ ...opts, signal: controller.signal })
        : inst.provider.getToken(opts)
    ).then(
      (token) => {
        served(inst, token, callSeq, via)
        return token
      },
      (err) => {
        if (controller?.signal.aborted && err === controller.signal.reason) {
          trace(`i${inst.n}:${via}:aborted`)
          const heldFor = holding()
          if (heldFor)
            violation(
              `i${inst.n} ${via} failed with its AbortSignal's reason at its deadline (${deadline?.ms} ms) ${heldFor}: a refresh held it up`,
            )
          return undefined
        }
        failed(inst, err, callSeq, via)
        const heldFor = holding()
        if (heldFor) violation(`i${inst.n} ${via} failed (${describe(err)}) ${heldFor}: a refresh failed it`)
        return undefined
      },
    )
    if (!deadline) return settled
    // A time cap the provider is not told about (no signal) can only be met by its own bound on an
    // inline refresh's wait (DEFAULTS.inlineRefreshWaitMs, where it has one): checked at the later of the two.
    const ms = deadline.abort ? deadline.ms : Math.max(deadline.ms, INLINE_WAIT_MS)
    let timer: ReturnType<typeof setTimeout> | undefined
    // At the deadline the signal aborts; what the provider answers at that instant still counts
    // (every promise chain runs before the next real setImmediate turn).
    const cap = new Promise<typeof DEADLINE>((resolve) => {
      timer = setTimeout(() => {
        controller?.abort(new DOMException('The caller’s deadline passed', 'TimeoutError'))
        setImmediate(() => resolve(DEADLINE))
      }, ms)
    })
    const first = await Promise.race([settled, cap])
    clearTimeout(timer)
    if (first !== DEADLINE) return first
    trace(`i${inst.n}:${via}:deadline`)
    const heldFor = holding()
    if (heldFor) {
      violation(
        `i${inst.n} ${via} was still waiting at its deadline (${ms} ms, ` +
          `${deadline.abort ? 'its AbortSignal' : "Middy's time cap"}) ${heldFor}: a refresh held it up`,
      )
    }
    return undefined
  }

  const revoked = new Set<string>()
  const counts = plan.lifetimesMs.map(() => ({
    revocations: 0,
    forced: 0,
    invalidateAll: 0,
    storeAllowance: 0,
  }))
  // An instance whose clock runs ahead sees a token written by one behind as older: it refreshes up
  // to the clocks' spread earlier.
  // With clocks further apart than that, a fast instance may see every token as due: no bound is checked.
  const interval = (key: number) =>
    Math.max(1, (DEFAULTS.refreshRatio - DEFAULTS.jitter) * plan.lifetimesMs[key]! - skewSpread)
  const thriftHolds = (key: number) => interval(key) > plan.lifetimesMs[key]! / 8
  const instancesOf = (key: number) => instances.filter((i) => i.key === key).length

  const start = (op: Op) => {
    switch (op.kind) {
      case 'call': {
        const inst = instances[op.inst]!
        const deadline = op.deadlineMs === undefined ? undefined : { ms: op.deadlineMs, abort: op.abort }
        return track(inst.n, `i${inst.n}:call`, async () => {
          let token = await getToken(inst, 'getToken', {}, deadline)
          if (token === undefined && op.retryOnFailMs !== undefined) {
            await wait(op.retryOnFailMs)
            token = await getToken(inst, 'getToken(again)')
          }
          if (token === undefined) return
          await wait(int(rng, plan.apiLatencyMs[0], plan.apiLatencyMs[1]))
          if (!revoked.has(token)) return
          trace(`i${inst.n}:api:401`)
          const invalidateSeq = ++seq
          if (!inst.rejected.has(token)) inst.rejected.set(token, { seq: invalidateSeq })
          try {
            await inst.provider.invalidate(token)
          } catch (err) {
            const rejected = inst.rejected.get(token)!
            rejected.threw ??= err instanceof TokenstashError ? err.code : describe(err)
            return failed(inst, err, invalidateSeq, 'invalidate')
          }
          await getToken(inst, 'getToken(after 401)')
        })
      }
      case 'getSet': {
        const inst = instances[op.inst]!
        return track(inst.n, `i${inst.n}:getTokenSet`, async () => {
          const callSeq = ++seq
          try {
            const set = await inst.provider.getTokenSet()
            served(inst, set.accessToken, callSeq, 'getTokenSet', set)
          } catch (err) {
            failed(inst, err, callSeq, 'getTokenSet')
          }
        })
      }
      case 'force': {
        const inst = instances[op.inst]!
        counts[inst.key]!.forced++
        return track(inst.n, `i${inst.n}:force`, async () => {
          await getToken(inst, 'getToken(force)', { forceRefresh: true })
        })
      }
      case 'invalidateAll': {
        const inst = instances[op.inst]!
        counts[inst.key]!.invalidateAll++
        return track(inst.n, `i${inst.n}:invalidate()`, async () => {
          const callSeq = ++seq
          // The token it drops: the one this instance last served. Once invalidate() resolved, calls
          // made after never get it back, whatever order the store answers in.
          const dropping = inst.last
          if (dropping !== undefined) inst.dropping.add(dropping)
          try {
            await inst.provider.invalidate()
          } catch (err) {
            return failed(inst, err, callSeq, 'invalidate()')
          }
          if (dropping !== undefined && !inst.dropped.has(dropping)) inst.dropped.set(dropping, ++seq)
        })
      }
      case 'revoke': {
        let newest: string | undefined
        for (const [token, info] of world.issued) if (info.key === op.key) newest = token
        trace(`k${op.key}:revoke#${newest === undefined ? '-' : world.issued.get(newest)!.n}`)
        if (newest === undefined || revoked.has(newest)) return
        revoked.add(newest)
        counts[op.key]!.revocations++
        return
      }
      case 'outage': {
        store.outages.push({ from: clock.now(), to: clock.now() + op.ms, kind: op.fault })
        trace(`store:outage:${op.fault}`)
        // Calls that land late (a hang, or slow past storeTimeoutMs) can hold a lease nobody owns.
        const extra =
          op.fault === 'error' ? 0 : (op.fault === 'hang' ? HANG_MS : SLOW_MS[1]) + DEFAULTS.lease.ttlMs
        for (const [key, c] of counts.entries()) {
          c.storeAllowance +=
            instancesOf(key) * (Math.floor((op.ms + extra + DEFAULTS.storeRetryAfterMs) / interval(key)) + 2)
        }
        return
      }
      case 'hang': {
        store.hangs.push({
          inst: op.inst,
          method: op.method,
          nth: op.nth,
          afterLease: op.afterLease,
          ms: op.ms,
          ignoresAbort: op.ignoresAbort,
        })
        const key = instances[op.inst]!.key
        // The instance skips the store for storeRetryAfterMs and may fetch directly meanwhile; a hung
        // call other than a read lands late (a lease nobody holds, an old token written): one more per instance.
        counts[key]!.storeAllowance +=
          Math.floor(DEFAULTS.storeRetryAfterMs / interval(key)) +
          1 +
          (op.method === 'get' ? 0 : instancesOf(key))
        return
      }
      case 'freeze': {
        clock.freeze(op.inst, clock.now() + op.ms)
        trace(`i${op.inst}:freeze:${op.ms}ms`)
        // Its lease expires under it (another instance fetches); its own token may go stale meanwhile.
        const key = instances[op.inst]!.key
        counts[key]!.storeAllowance += instancesOf(key) * (Math.floor(op.ms / interval(key)) + 1)
        return
      }
      case 'connecting': {
        store.connecting.set(op.inst, clock.now() + op.ms)
        trace(`i${op.inst}:store-connecting:${op.ms}ms`)
        const key = instances[op.inst]!.key
        // Connecting past storeTimeoutMs is a store down for that long, whose calls then land late.
        if (op.ms + plan.storeLatencyMs[1] >= DEFAULTS.storeTimeoutMs) {
          counts[key]!.storeAllowance +=
            instancesOf(key) *
            (Math.floor((op.ms + DEFAULTS.lease.ttlMs + DEFAULTS.storeRetryAfterMs) / interval(key)) + 2)
        }
        return
      }
      case 'crossed':
        store.crossed.push({ from: clock.now(), to: clock.now() + op.ms })
        trace('store:crossed')
        // A foreign entry must read as a miss: each instance of the key may fetch once per interval.
        for (const [key, c] of counts.entries()) {
          c.storeAllowance += instancesOf(key) * (Math.floor(op.ms / interval(key)) + 1)
        }
        return
      case 'restart':
        store.restart()
        for (const [key, c] of counts.entries()) c.storeAllowance += instancesOf(key)
        return
      case 'sourceFault':
        specs[op.key]!.faults.push({ from: clock.now(), to: clock.now() + op.ms, outcome: op.outcome })
        trace(`k${op.key}:fault:${op.outcome}`)
        return
    }
  }

  // ---- the event loop -----------------------------------------------------------------------

  /** A lease held by an instance with nothing left to run (no caller, no timer, no I/O): its attempt is over. */
  const checkOrphans = () => {
    const now = clock.now()
    for (const grant of store.leases.values()) {
      const left = grant.expiresAt - now
      if (left <= ORPHAN_LEASE_MAX_MS || reportedOrphans.has(grant.id)) continue
      if (clock.timersOf(grant.inst) > 0 || [...pending.values()].some((p) => p.inst === grant.inst)) continue
      reportedOrphans.add(grant.id)
      violation(
        `a lease of i${grant.inst} (granted at +${grant.grantedAt - t0} ms${grant.late ? ', landing after its client gave up' : ''}) ` +
          `outlives its attempt: held ${left} ms more while i${grant.inst} has nothing left to run`,
      )
    }
  }

  let stuckReported = false
  /** Fires timers one at a time up to `target` (or until no caller waits, with `drain`), checking after each. */
  const runUntil = async (target: number, drain = false) => {
    for (;;) {
      await clock.settle()
      if (pending.size > 0 && !stuckReported) {
        for (const inst of new Set([...pending.values()].map((p) => p.inst))) {
          if (clock.refTimers(inst) > 0) continue
          stuckReported = true
          const waiting = [...pending.values()].filter((p) => p.inst === inst).map((p) => p.label)
          violation(
            `${waiting.join(', ')} waiting with no ref'd timer or pending I/O of instance ${inst}: ` +
              'a Lambda invocation would end here (answered null)',
          )
          break
        }
      }
      if (store.leases.size > 0) checkOrphans()
      if (drain && pending.size === 0) return
      const next = clock.nextAt()
      if (next === undefined || next > target) {
        if (!drain) clock.advanceTo(target)
        return
      }
      if (++steps > MAX_STEPS) {
        violation(`no quiet point after ${MAX_STEPS} timer firings`)
        return
      }
      clock.fireNext()
    }
  }

  const ops = [...plan.ops].sort((a, b) => a.at - b.at)
  for (const op of ops) {
    await runUntil(t0 + op.at)
    start(op)
  }
  await runUntil(clock.now() + DRAIN_CAP_MS, true)
  if (pending.size > 0 && violations.length === 0) {
    violation(
      `${[...pending.values()].map((p) => p.label).join(', ')} still waiting ${DRAIN_CAP_MS / 60_000} min after the last operation`,
    )
  }
  const mainEnd = clock.now()

  // Thrift: with a healthy endpoint, at most one request per (refreshRatio − jitter) of a lifetime
  // over the run, plus one, plus one per revocation, forced refresh and invalidate(), plus what
  // each store fault may cost (stated where the fault is applied above).
  if (!sourceFaults) {
    for (const [key, c] of counts.entries()) {
      if (!thriftHolds(key)) continue
      const made = world.requests.filter((r) => r.key === key).length
      // A lifetime too short to share: every instance of the key fetches its own.
      const bound =
        (Math.floor((mainEnd - t0) / interval(key)) + 1) *
          (sharedLifetime(plan.lifetimesMs[key]!, storeMargin) ? 1 : instancesOf(key)) +
        c.revocations +
        c.forced +
        c.invalidateAll +
        c.storeAllowance
      if (made > bound) {
        violation(
          `k${key}: ${made} token requests > bound ${bound} (run ${mainEnd - t0} ms, lifetime ${plan.lifetimesMs[key]} ms, ` +
            `${c.revocations} revocations, ${c.forced} forced, ${c.invalidateAll} invalidate(), store-fault allowance ${c.storeAllowance})`,
        )
      }
    }
  }

  const max = plan.expect?.maxRequests
  if (max !== undefined && world.requests.length > max) {
    violation(`${world.requests.length} token requests, the scenario allows ${max}`)
  }

  // Recovery: the faults end; once cooldowns and store skips have passed, every instance gets a
  // token (a failure was not cached, a store fault did not stick). A healthy run has nothing to recover from.
  if (!storeFaults && !sourceFaults) return result()
  store.healthy = true
  for (const s of specs) {
    s.healthy = true
    s.script.length = 0
  }
  await runUntil(clock.now() + RECOVERY_AFTER_MS)
  const before = violations.length
  for (const inst of instances) {
    track(inst.n, `i${inst.n}:recover`, async () => {
      const callSeq = ++seq
      try {
        served(inst, await inst.provider.getToken(), callSeq, 'getToken(recovery)')
      } catch (err) {
        trace(`i${inst.n}:recovery:fail`)
        violation(`i${inst.n} getToken failed after every fault had ended and cooled down: ${describe(err)}`)
      }
    })
  }
  await runUntil(clock.now() + DRAIN_CAP_MS, true)
  if (pending.size > 0 && violations.length === before) violation('recovery callers still waiting')
  return result()

  function result(): RunResult {
    return {
      seed: plan.seed,
      violations,
      interleaving: createHash('sha1').update(events.join('\n')).digest('hex').slice(0, 16),
      requests: world.requests.length,
      steps,
      trace: timed,
    }
  }
}
