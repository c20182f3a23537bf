import { DEFAULTS, zeroStats } from './defaults'
import { eventChannel } from './diagnostics'
import { EntryCodec, type FailureRecord } from './entry'
import {
  ConfigError,
  DiscoveryError,
  RateLimitedError,
  TokenEndpointError,
  TokenRejectedError,
  TokenResponseError,
  TokenstashError,
} from './errors'
import { providerKey } from './key'
import { EventLogger } from './logger'
import { nodeCrypto } from './node-crypto'
import { type ProviderConfig, providerConfig, type TokenProviderOptions } from './options'
import { type RefreshPolicy, shareable, type Timing, timing } from './policy'
import { backoffStep, fetchWithRetry, type RetryOptions } from './retry'
import { SingleFlight, sleep, withDeadline, withSignal } from './single-flight'
import { describe, Lease, type StoredToken, StoreTier } from './store-tier'
import type {
  EnsureFreshOptions,
  EnsureFreshResult,
  GetTokenOptions,
  ProviderStats,
  TokenEvent,
  TokenProvider,
  TokenSet,
  TokenSource,
} from './types'
import { expectNumber } from './validate'

export type { TokenProviderOptions }

// How a token is served, top to bottom in this file:
//   getToken        the warm path: a token before refreshAt, from memory, no await.
//   peekTokenSet    the same, synchronous: the set, or undefined when not fresh.
//   getTokenSet     a token before usableUntil is served (a refresh starts once past refreshAt);
//                   otherwise #obtain joins or starts the one flight of this provider.
//   #acquire        the flight: store → lease → (waiting for the holder) → cooldown → fetch.
//   #fetchAndKeep   fetch with retries, keep the token in memory, write it unless another
//                   instance wrote one meanwhile.
//   invalidate      forget a rejected token, remember it until it expires, compare-and-delete.
// Store calls (timeouts, skipping after failures, codec, lease, cooldown, failure marker) live in
// store-tier.ts; the retry loop in retry.ts; option checking in options.ts. Time comes only from
// the injected `now` and timers only from setTimeout, so a simulator can drive both.

interface Cached {
  set: TokenSet
  timing: Timing
  /** This token replaced one that was rejected (see invalidate's loop guard). */
  replacesRejected: boolean
  adoptedAt: number
}

/** obtain: a usable token; refresh: a fresh one, or nothing if someone else refreshes; force: a new one from the endpoint. */
type Mode = 'obtain' | 'refresh' | 'force'

const FLIGHT = 'token'
// Lease losers poll often at first (the winner's fetch usually takes 50-300 ms), then back off.
// Each delay is jittered ±25% so a cold burst of containers does not read one item in lockstep
// (on DynamoDB one item is one partition, with a few thousand strong reads per second at most).
const POLL_MS = [25, 40, 60, 100, 150, 200, 250]
/** Every third poll also looks for the holder's failure and whether the lease was released. */
const CHECK_EVERY = 3

class Provider implements TokenProvider {
  /** Derived on first use: its hash is what would load node:crypto at a memory-only cold start. */
  #key: string | undefined
  readonly #keyOf: () => string
  readonly #source: TokenSource
  readonly #tier?: StoreTier
  readonly #now: () => number
  readonly #onEvent?: (event: TokenEvent) => void
  readonly #log?: EventLogger
  readonly #policy: RefreshPolicy
  /** The policy of the instance with the most jitter: the fleet's earliest refresh point (ensureFresh). */
  readonly #fleetPolicy: RefreshPolicy
  readonly #retry: RetryOptions
  readonly #lease: ProviderConfig['lease']
  readonly #background: boolean
  readonly #clockMarginMs: number
  readonly #flight = new SingleFlight<Cached | undefined>()
  readonly #stats: ProviderStats = zeroStats()

  #cur?: Cached
  /** Tokens rejected through invalidate, with their expiry: never adopted again before it. */
  readonly #rejected = new Map<string, number>()
  #pendingReplacement = false
  #cooldownUntil = 0
  #rateLimitStreak = 0
  #nextRefreshTry = 0
  /** After a replacement was rejected too: no token is served or fetched before this time. */
  #blockedUntil = 0
  /**
   * The source's tokens live too short to be shared under the clock-skew tolerance: this instance
   * fetches its own and leaves the store alone (see `shareable`).
   */
  #unshared = false
  /** When the refresh in flight started (inline mode bounds callers' waits from it). */
  #refreshStartedAt = 0
  /** A caller stopped waiting for the refresh in flight: the next ones do not wait for it at all. */
  #refreshOverdue = false
  /** Next time serving a token marks the key as used in the store (never without a store). */
  #markUseAt = Number.POSITIVE_INFINITY

  constructor(options: TokenProviderOptions) {
    const c = providerConfig(options)
    this.#source = c.source
    this.#now = c.now
    this.#onEvent = c.onEvent
    this.#policy = c.policy
    this.#fleetPolicy = { ...c.policy, jitterFraction: c.jitter }
    this.#retry = c.retry
    this.#lease = c.lease
    this.#background = c.background
    this.#clockMarginMs = c.clockMarginMs
    const { namespace } = c
    const sourceId = c.source.id
    this.#keyOf = () => providerKey(sourceId, namespace)
    this.#log = c.logger && new EventLogger(c.logger, () => this.key)
    // What the source reports about itself (e.g. clientCredentials' auth-method-fallback) reaches
    // onEvent and the event channel under this provider's key. Only with a listener: a source
    // shared by many providers should not hold on to providers that listen to nothing.
    if (
      (this.#onEvent || this.#log || eventChannel.hasSubscribers) &&
      typeof c.source.subscribe === 'function'
    ) {
      c.source.subscribe((event) => this.#emit(event))
    }
    if (c.store) {
      this.#tier = new StoreTier(c.store, {
        key: this.key,
        owner: nodeCrypto().randomUUID(),
        codec: new EntryCodec(this.key, c.keyring, (reason) =>
          this.#emit({ type: 'store-unreadable', reason }),
        ),
        timeoutMs: c.storeTimeoutMs,
        now: this.#now,
        emit: (event) => this.#emit(event),
        stats: this.#stats,
      })
      this.#markUseAt = 0
    }
  }

  get key(): string {
    this.#key ??= this.#keyOf()
    return this.#key
  }

  getToken(opts?: GetTokenOptions): Promise<string> {
    // The warm path: no I/O, no timer, one comparison.
    const cur = this.#cur
    const now = this.#now()
    if (cur && !opts?.forceRefresh && now < cur.timing.refreshAt) {
      if (now >= this.#markUseAt) this.#markUse(now)
      this.#hit(cur)
      return Promise.resolve(cur.set.accessToken)
    }
    return this.getTokenSet(opts).then((set) => set.accessToken)
  }

  peekTokenSet(): TokenSet | undefined {
    // getToken's warm path without the promise, for callers that answer thousands of requests a
    // second (the proxy): past refreshAt they call getTokenSet, which starts the refresh.
    const cur = this.#cur
    const now = this.#now()
    if (!cur || now >= cur.timing.refreshAt) return undefined
    if (now >= this.#markUseAt) this.#markUse(now)
    this.#hit(cur)
    return cur.set
  }

  getTokenSet(opts: GetTokenOptions = {}): Promise<TokenSet> {
    let now: number
    try {
      now = this.#now()
    } catch (err) {
      // A clock that throws (the `now` option) fails the call, as an async method would.
      return Promise.reject(err)
    }
    if (now < this.#markUseAt) return this.#getTokenSet(opts, now)
    const served = this.#getTokenSet(opts, now)
    this.#markUse(now, served)
    return served
  }

  async #getTokenSet(opts: GetTokenOptions, now: number): Promise<TokenSet> {
    opts.signal?.throwIfAborted()
    const force = opts.forceRefresh === true
    const cur = this.#cur
    if (cur && !force && now < cur.timing.usableUntil) {
      this.#hit(cur)
      if (now < cur.timing.refreshAt) return cur.set
      const refreshed = this.#refresh(cur)
      if (this.#background) return cur.set
      // Inline (Lambda): wait for the refresh, but never past the caller's deadline nor
      // inlineRefreshWaitMs after the refresh started; then the current token is served and the
      // refresh goes on for the next caller (who does not wait for it again).
      const waitMs = this.#refreshOverdue
        ? 0
        : Math.min(this.#refreshStartedAt + DEFAULTS.inlineRefreshWaitMs - now, cur.timing.usableUntil - now)
      const fresh = await withDeadline(refreshed, waitMs, opts.signal)
      if (fresh === undefined && this.#flight.has(FLIGHT)) this.#refreshOverdue = true
      // A token is never served at or after usableUntil, even if the clock moved while we waited.
      const after = this.#now()
      if (this.#servable(fresh)) return fresh.set
      if (after < cur.timing.usableUntil) return cur.set
      opts.signal?.throwIfAborted()
      // The refresh outlasted the current token: obtain a new one like any caller without one.
    }
    if (this.#now() < this.#blockedUntil) throw this.#loopError()
    return (await withSignal(this.#obtain(force ? 'force' : 'obtain', cur), opts.signal)).set
  }

  async invalidate(rejectedToken?: string): Promise<void> {
    if (rejectedToken === undefined) {
      // Every token dropped here is remembered until it expires, so neither a read racing the
      // delete nor a flight started before it can bring one back, whatever order the store answers.
      const cur = this.#cur
      if (cur) this.#remember(cur.set.accessToken, cur.set.expiresAt)
      this.#cur = undefined
      const tier = this.#tier
      if (tier) {
        const stored = await tier.readToken()
        if (stored) this.#remember(stored.set.accessToken, stored.set.expiresAt)
        await tier.deleteAll()
      }
      if (this.#cur && this.#isRejected((this.#cur as Cached).set.accessToken)) this.#cur = undefined
      this.#emit({ type: 'invalidate' })
      return
    }
    if (typeof rejectedToken !== 'string') throw new ConfigError('Expected `rejectedToken` to be a string')
    const cur = this.#cur
    // Not (or no longer) the current token: a late 401 for an old token. getToken() has the newer one.
    if (!cur || cur.set.accessToken !== rejectedToken) return
    this.#remember(rejectedToken, cur.set.expiresAt)
    this.#cur = undefined
    this.#pendingReplacement = true
    // The replacement of a rejected token rejected too: the configuration is likely wrong. Neither
    // serve it again nor fetch in a loop: getToken fails until the rejection window has passed.
    const looping = cur.replacesRejected && this.#now() - cur.adoptedAt < DEFAULTS.rejectionWindowMs
    if (looping) this.#blockedUntil = cur.adoptedAt + DEFAULTS.rejectionWindowMs
    // Compare-and-delete on the stored value, so a burst of 401s deletes once and never removes a
    // newer token another instance wrote; queued while the store cannot be reached.
    await this.#tier?.deleteToken(rejectedToken, cur.set.expiresAt)
    if (looping) {
      this.#emit({ type: 'error', code: 'ERR_TOKEN_REJECTED' })
      throw this.#loopError()
    }
    this.#emit({ type: 'invalidate' })
  }

  stats(): ProviderStats {
    return { ...this.#stats }
  }

  async ensureFresh(opts: EnsureFreshOptions): Promise<EnsureFreshResult> {
    if (!opts || typeof opts !== 'object') throw new ConfigError('Expected an options object with `until`')
    const until = expectNumber('until', opts.until, {})
    const ms = (name: 'usedWithinMs' | 'idleAfterMs') =>
      opts[name] === undefined ? undefined : expectNumber(name, opts[name], { min: 0 })
    const usedWithinMs = ms('usedWithinMs')
    const idleAfterMs = ms('idleAfterMs')
    opts.signal?.throwIfAborted()
    const tier = this.#tier
    const work = async (): Promise<EnsureFreshResult> => {
      let idle = false
      if (tier && (usedWithinMs !== undefined || idleAfterMs !== undefined)) {
        const usedAt = await tier.readUse()
        const since = usedAt === undefined ? Number.POSITIVE_INFINITY : this.#now() - usedAt
        if (usedWithinMs !== undefined && since > usedWithinMs) return { outcome: 'unused', usedAt }
        idle = idleAfterMs !== undefined && since > idleAfterMs
      }
      // The fleet's view is the store; without one, or with tokens too short to share (each
      // instance fetches its own, nothing is written there), this instance's memory. A store read
      // that failed or was skipped is not a miss: the token this instance holds (a warmer's: the
      // one it wrote last round) decides, so a slow store never costs a request for a fresh token.
      let seen = tier && !this.#unshared ? (await tier.readToken())?.set : this.#cur?.set
      if (!seen && tier?.readsSkipped) seen = this.#cur?.set
      if (seen && !this.#isRejected(seen.accessToken)) {
        // Idle: no instance is there to reach a refresh point; a cold one adopts any usable token.
        const t = this.#fleetTiming(seen)
        if (until < (idle ? t.usableUntil : t.refreshAt)) {
          return { outcome: 'fresh', expiresAt: seen.expiresAt, refreshAt: t.refreshAt, idle }
        }
      }
      const fetches = this.#stats.fetches
      // A refresh flight like any instance's: the lease, a token written meanwhile adopted, cooldowns.
      const got = await this.#flight.run(FLIGHT, () => this.#acquire('refresh', seen?.accessToken))
      if (!got) return { outcome: 'held', idle }
      return {
        outcome: this.#stats.fetches > fetches ? 'refreshed' : 'adopted',
        expiresAt: got.set.expiresAt,
        refreshAt: this.#fleetTiming(got.set).refreshAt,
        idle,
      }
    }
    return withSignal(
      work().catch((err) => {
        this.#emitError(err)
        throw err
      }),
      opts.signal,
    )
  }

  /** The fleet's view of a stored token: the earliest refresh point any instance computes for it. */
  #fleetTiming(set: TokenSet): Timing {
    return timing(set, this.#fleetPolicy, this.#tier && !this.#unshared ? this.#clockMarginMs : 0)
  }

  /**
   * Fire-and-forget, at most once per DEFAULTS.useMarkEveryMs: never awaited by a caller. With
   * `after` (a call that may read the store), the mark is written once it settles, served or
   * refused, so a cold instance's store read goes alone and the mark never delays a token. Not
   * later than that (a setImmediate): a caller's test that ends with its token would see the write
   * land after its environment was torn down.
   */
  #markUse(now: number, after?: Promise<unknown>): void {
    this.#markUseAt = now + DEFAULTS.useMarkEveryMs
    const tier = this.#tier
    if (!tier) return
    const mark = () => tier.markUse(now)
    if (after) after.then(mark, mark)
    else mark()
  }

  // ---- flights ------------------------------------------------------------------------------

  #hit(cur: Cached): void {
    this.#stats.l1Hits++
    if (this.#onEvent || eventChannel.hasSubscribers)
      this.#emit({ type: 'hit-memory', expiresAt: cur.set.expiresAt })
  }

  /** Serve-while-refreshing. Never rejects: the current token stays usable whatever happens. */
  #refresh(cur: Cached): Promise<Cached | undefined> {
    if (!this.#flight.has(FLIGHT)) {
      if (this.#now() < this.#nextRefreshTry) return Promise.resolve(undefined)
      this.#refreshStartedAt = this.#now()
      this.#refreshOverdue = false
    }
    return this.#flight
      .run(FLIGHT, () => this.#acquire('refresh', cur.set.accessToken))
      .then(
        (fresh) => {
          if (!fresh || fresh === cur) this.#backOffRefresh(cur)
          return fresh
        },
        (err) => {
          this.#backOffRefresh(cur)
          this.#emitError(err)
          return undefined
        },
      )
  }

  // After a refresh that found nothing to do (another instance holds the lease) or failed, wait
  // before trying again, so calls in the refresh window do not each hit the store: a quarter of
  // what is left of the window, at least 1 s (a slow store is not polled faster than it answers),
  // at most 30 s. Past usableUntil callers obtain a token anyway.
  #backOffRefresh(cur: Cached): void {
    const left = cur.timing.usableUntil - this.#now()
    this.#nextRefreshTry = this.#now() + Math.max(REFRESH_RETRY_MIN_MS, Math.min(30_000, left / 4))
  }

  /**
   * A usable token (a new one when forced): joins the flight in progress, or starts one. A joined
   * refresh may bring nothing, and a token may expire on arrival; a few flights settle both.
   */
  async #obtain(mode: 'obtain' | 'force', prev: Cached | undefined): Promise<Cached> {
    for (let flights = 0; flights < 3; flights++) {
      const got = await this.#flight
        .run(FLIGHT, () => this.#acquire(mode, prev?.set.accessToken))
        .catch((err) => {
          this.#emitError(err)
          throw err
        })
      // A flight that started before an invalidate may bring back the token it rejected: not served.
      if (this.#servable(got) && (mode !== 'force' || got !== prev)) return got
    }
    throw new TokenResponseError(
      `The token from ${this.#endpointName()} was no longer usable when it arrived (lifetime shorter than the request took)`,
      { endpoint: this.#endpointName(), reason: 'expired_on_arrival' },
    )
  }

  /**
   * Steps 3 and 4 of DESIGN.md, one flight: the store; else the lease; the winner (or a loser that
   * took over a released lease, or one that waited in vain) checks the cooldown, fetches, writes and
   * releases; a loser waits for the holder's token or failure. `replacing` is the token this flight
   * must not bring back (the one being refreshed or forced out).
   */
  async #acquire(mode: Mode, replacing: string | undefined): Promise<Cached | undefined> {
    const tier = this.#unshared ? undefined : this.#tier
    if (!tier) {
      this.#checkCooldown(mode)
      return this.#fetchAndKeep(mode, replacing, undefined)
    }
    if (tier.hasPendingDeletes) await tier.flushDeletes()
    let seen = mode === 'force' ? undefined : await tier.readToken()
    const found = this.#fresh(seen?.set, mode, replacing)
    if (found) return this.#adoptFromStore(found)
    if (this.#unshared) return this.#acquire(mode, replacing)
    this.#checkCooldown(mode)

    let lease = await tier.acquireLease(this.#lease.ttlMs, this.#lease.holdMs)
    try {
      if (lease.state === 'lost') {
        // Another instance is fetching. During a refresh the current token is still good: keep it.
        if (mode === 'refresh') return undefined
        const waited = await this.#waitForHolder(replacing)
        if (!(waited instanceof Lease)) return waited
        lease = waited
      } else if (lease.state === 'unknown') {
        this.#emit({ type: 'fail-open', reason: 'store-down' })
      }
      // Read again: the previous holder may have written its token and released the lease between
      // our first read and our acquireLease. This read is also what "changed meanwhile" is judged by.
      const [again, sharedCooldown] = await Promise.all([tier.readToken(), tier.readCooldown()])
      seen = again
      const written = this.#fresh(again?.set, mode, replacing)
      if (written && mode !== 'force') return this.#adoptFromStore(written)
      this.#checkCooldown(mode, sharedCooldown)
      return await this.#fetchAndKeep(mode, replacing, seen, lease)
    } finally {
      lease.end()
    }
  }

  /**
   * Fetches, keeps the token in memory and writes it to the store, unless another instance wrote a
   * usable token while we fetched (then that one is kept: a late response never replaces a newer
   * token). "While we fetched" is judged by the stored value, not by comparing issuedAt across
   * hosts, so clock skew cannot stop an instance from writing.
   */
  async #fetchAndKeep(
    mode: Mode,
    replacing: string | undefined,
    seen: StoredToken | undefined,
    lease?: Lease,
  ): Promise<Cached> {
    const started = this.#now()
    let set: TokenSet
    try {
      set = await this.#fetch()
    } catch (err) {
      // Tell the instances waiting on our lease, so they fail now with this error instead of
      // fetching; only while this attempt still holds the lease (a former holder's failure is not
      // theirs), and under its owner, so waiters can tell.
      const tier = this.#tier
      if (tier && lease?.held && inspectable(err) && err instanceof TokenstashError) {
        if ((await tier.readLeaseOwner()) === lease.owner)
          await tier.writeFailure({ ...failureOf(err), owner: lease.owner })
      }
      throw err
    }
    this.#emit({
      type: mode === 'refresh' ? 'refresh' : 'fetch',
      durationMs: this.#now() - started,
      expiresAt: set.expiresAt,
    })
    if (this.#isRejected(set.accessToken)) {
      throw new TokenRejectedError(
        `${this.#endpointName()} answered with the token that was just rejected; not using it again. ` +
          'The identity provider may cache tokens per client: check its configuration.',
      )
    }
    this.#checkLifetime(set)
    const tier = this.#unshared ? undefined : this.#tier
    if (!tier) return this.#adopt(set, false)
    const latest = await tier.readToken()
    const theirs =
      latest && latest.raw !== seen?.raw ? this.#fresh(latest.set, 'obtain', replacing) : undefined
    if (theirs) return this.#adopt(theirs, true)
    const cached = this.#adopt(set, false)
    const writing = tier.writeToken(set)
    // While the store is failing (a read just timed out), the write is still tried, but the caller
    // does not wait for it on top of that read: a dead socket costs one storeTimeoutMs, not two.
    if (tier.readsSkipped) writing.catch((err) => this.#emitError(err))
    else await writing
    return cached
  }

  /**
   * Lease lost: poll the store with short, growing intervals while the holder works. Every third
   * poll also reads who holds the lease and the failure marker: a marker counts only when it names
   * the holder seen on the lease; a lease nobody holds (released, or expired with a dead holder:
   * a renewed lease expires within seconds) is taken over.
   */
  async #waitForHolder(replacing: string | undefined): Promise<Cached | Lease> {
    const tier = this.#tier!
    this.#stats.leaseWaits++
    const started = this.#now()
    // Time is judged by the injected clock and by the sleeps themselves, whichever says more.
    let slept = 0
    const waited = () => Math.max(this.#now() - started, slept)
    const done = (found?: TokenSet) => {
      this.#emit({ type: 'lease-wait', durationMs: Math.round(waited()), expiresAt: found?.expiresAt })
    }
    // The holder that beat us: only its failure marker counts (one read, so a holder that fails
    // before our first check is still known).
    let holder = await tier.readLeaseOwner()
    for (let i = 0; waited() < this.#lease.waitMs && !tier.readsSkipped; i++) {
      const delay = Math.min(
        POLL_MS[Math.min(i, POLL_MS.length - 1)]! * (0.75 + Math.random() * 0.5),
        this.#lease.waitMs - waited(),
      )
      await sleep(delay)
      slept += delay
      const stored = (await tier.readToken())?.set
      const found = this.#fresh(stored, 'obtain', replacing)
      if (found) {
        this.#stats.l2Hits++
        done(found)
        return this.#adopt(found, true)
      }
      // The holder's token has a lifetime too short to share under the skew tolerance: fetch our own.
      if (this.#unshared) break
      if (i % CHECK_EVERY !== CHECK_EVERY - 1) continue
      const [owner, failure] = await Promise.all([tier.readLeaseOwner(), tier.readFailure()])
      holder = owner ?? holder
      if (failure && failure.owner !== undefined && failure.owner === holder) {
        done()
        throw this.#errorOf(failure)
      }
      if (owner !== undefined) continue
      // Released without a token (or expired with its holder): take it over, instead of all
      // waiting out waitMs and fetching together.
      const lease = await tier.acquireLease(this.#lease.ttlMs, this.#lease.holdMs)
      if (lease.state === 'won') {
        done()
        return lease
      }
      lease.end()
    }
    done()
    // Fail open: availability over thrift.
    if (!this.#unshared)
      this.#emit({ type: 'fail-open', reason: tier.readsSkipped ? 'store-down' : 'lease-wait-timeout' })
    return new Lease('')
  }

  /** Whether a flight's result may be served now: before its usableUntil and not rejected. */
  #servable(c: Cached | undefined): c is Cached {
    return c !== undefined && this.#now() < c.timing.usableUntil && !this.#isRejected(c.set.accessToken)
  }

  /** `set` if it may be served for `mode` and is neither rejected nor the token being replaced. */
  #fresh(set: TokenSet | undefined, mode: Mode, replacing: string | undefined): TokenSet | undefined {
    if (!set || set.accessToken === replacing || this.#isRejected(set.accessToken)) return undefined
    if (!this.#checkLifetime(set)) return undefined
    const t = timing(set, this.#policy, this.#clockMarginMs)
    return this.#now() < (mode === 'refresh' ? t.refreshAt : t.usableUntil) ? set : undefined
  }

  #adoptFromStore(set: TokenSet): Cached {
    this.#stats.l2Hits++
    this.#emit({ type: 'hit-store', expiresAt: set.expiresAt })
    return this.#adopt(set, true)
  }

  /**
   * The token served from now on. Flights are serial (one per provider), so nothing newer can be in
   * memory. Times written by another host get a margin for clock skew.
   */
  #adopt(set: TokenSet, fromStore: boolean): Cached {
    const cached: Cached = {
      set: Object.isFrozen(set) ? set : Object.freeze({ ...set }),
      timing: timing(set, this.#policy, fromStore ? this.#clockMarginMs : 0),
      replacesRejected: this.#pendingReplacement,
      adoptedAt: this.#now(),
    }
    this.#pendingReplacement = false
    // A flight that started before an invalidate may bring back the token it dropped: never installed.
    if (!this.#isRejected(cached.set.accessToken)) this.#cur = cached
    return cached
  }

  /**
   * Whether tokens of this lifetime may be shared through the store under the clock-skew
   * tolerance. The first time one is too short, the provider stops sharing (each instance fetches
   * its own) and says so with a `skew` event.
   */
  #checkLifetime(set: TokenSet): boolean {
    if (!this.#tier) return true
    const lifetimeMs = set.expiresAt - set.issuedAt
    if (shareable(lifetimeMs, this.#policy, this.#clockMarginMs)) return true
    if (!this.#unshared) {
      this.#unshared = true
      this.#emit({
        type: 'skew',
        reason: 'short-lifetime',
        lifetimeMs,
        message:
          `Tokens of ${this.#endpointName()} live ${Math.round(lifetimeMs / 1000)} s: too short to share between instances ` +
          `whose clocks may differ by clockSkewToleranceMs (±${this.#clockMarginMs / 2} ms); each instance fetches its own`,
      })
    }
    return false
  }

  // ---- rejected tokens ---------------------------------------------------------------------

  #remember(token: string, expiresAt: number): void {
    const now = this.#now()
    for (const [t, until] of this.#rejected) if (until <= now) this.#rejected.delete(t)
    if (this.#rejected.size >= DEFAULTS.maxRejectedTokens) {
      const oldest = this.#rejected.keys().next().value
      if (oldest !== undefined) this.#rejected.delete(oldest)
    }
    this.#rejected.set(token, expiresAt)
  }

  #isRejected(token: string): boolean {
    // Most providers never saw a 401: no need to hash a kilobyte-long token to find that out.
    if (this.#rejected.size === 0) return false
    const until = this.#rejected.get(token)
    return until !== undefined && this.#now() < until
  }

  // ---- token endpoint ----------------------------------------------------------------------

  async #fetch(): Promise<TokenSet> {
    const attempt = async (signal?: AbortSignal): Promise<TokenSet> => {
      this.#stats.fetches++
      try {
        return checkTokenSet(await this.#source.fetchToken(signal), this.#endpointName())
      } catch (err) {
        this.#stats.fetchErrors++
        throw err
      }
    }
    const set = await fetchWithRetry(attempt, this.#retry, {
      now: this.#now,
      onRetry: (error, n) =>
        this.#emit({
          type: 'retry',
          attempt: n,
          status: error.status,
          code: error.code,
          message: error.message,
        }),
      onRateLimit: (error) => this.#shareRateLimit(error),
    }).catch((err: unknown) => {
      // Once per request: the callers that joined it each get an `error` event of their own.
      // `instanceof` on a revoked Proxy a custom source threw would throw a TypeError of its own.
      const own = inspectable(err) && err instanceof TokenstashError
      const status = own && err instanceof TokenEndpointError ? err.status : undefined
      this.#emit({ type: 'fetch-error', code: own ? err.code : undefined, status })
      throw err
    })
    // The endpoint answered: this instance's own rate limit is over.
    this.#rateLimitStreak = 0
    this.#cooldownUntil = 0
    return set
  }

  /**
   * A 429 (or a 503 with Retry-After): the wait the endpoint asked for, or one backoff step growing
   * with each 429 in a row (capped at retry.maxTimeoutMs). Honoured here and shared through the store.
   */
  async #shareRateLimit(error: TokenEndpointError): Promise<number> {
    if (error.status === 429) this.#rateLimitStreak++
    const wait = error.retryAfterMs ?? backoffStep(this.#retry, this.#rateLimitStreak)
    const now = this.#now()
    const until = now + Math.min(wait, DEFAULTS.maxCooldownMs)
    this.#cooldownUntil = Math.max(this.#cooldownUntil, until)
    this.#emit({ type: 'cooldown', retryAt: until })
    await this.#tier?.writeCooldown(until)
    return until
  }

  /** Throws RateLimitedError while this instance's cooldown, or one shared through the store, lasts. */
  #checkCooldown(mode: Mode, shared = 0): void {
    const now = this.#now()
    const until = Math.max(this.#cooldownUntil, shared)
    if (until <= now) return
    this.#cooldownUntil = until
    this.#emit({ type: 'cooldown', retryAt: until })
    throw new RateLimitedError(
      `${this.#endpointName()} asked clients to back off until ${new Date(until).toISOString()}; ` +
        `not calling it again before then${mode === 'refresh' ? '' : ' (no usable token is cached)'}`,
      { endpoint: this.#endpointName(), retryable: true, retryAfterMs: until - now, retryAt: until },
    )
  }

  /** The error a failed lease holder reported, as the same typed error. */
  #errorOf(f: FailureRecord): TokenstashError {
    const message = `${f.message} (reported by the instance that held the lease)`
    const endpoint = f.endpoint ?? this.#endpointName()
    const details = {
      endpoint,
      status: f.status,
      error: f.error,
      errorDescription: f.errorDescription,
      retryable: f.retryable ?? false,
      retryAfterMs: f.retryAfterMs,
    }
    switch (f.code) {
      case 'ERR_RATE_LIMITED': {
        const retryAt = Math.min(f.retryAt ?? this.#now(), this.#now() + DEFAULTS.maxCooldownMs)
        this.#cooldownUntil = Math.max(this.#cooldownUntil, retryAt)
        return new RateLimitedError(message, { ...details, retryable: true, retryAt })
      }
      case 'ERR_TOKEN_RESPONSE':
        return new TokenResponseError(message, { endpoint, status: f.status, reason: f.reason ?? 'unknown' })
      case 'ERR_DISCOVERY':
        return new DiscoveryError(message, {
          issuer: f.issuer ?? '',
          status: f.status,
          retryable: f.retryable,
        })
      case 'ERR_TOKEN_REJECTED':
        return new TokenRejectedError(message)
      default:
        return new TokenEndpointError(message, details)
    }
  }

  // ---- events ------------------------------------------------------------------------------

  #emit(event: Omit<TokenEvent, 'key'>): void {
    this.#log?.handle(event)
    const hook = this.#onEvent
    const published = eventChannel.hasSubscribers
    if (!hook && !published) return
    const full: TokenEvent = { key: this.key, ...event }
    // Subscribers get their own copy: a hook that edits its event changes nothing they see.
    if (published) eventChannel.publish({ ...full })
    if (!hook) return
    try {
      hook(full)
    } catch {
      // Observability must never break token serving.
    }
  }

  #emitError(err: unknown): void {
    if (!inspectable(err)) {
      this.#emit({ type: 'error', message: describe(err) })
    } else if (err instanceof TokenstashError) {
      this.#emit({
        type: 'error',
        code: err.code,
        message: err.message,
        status: err instanceof TokenEndpointError ? err.status : undefined,
      })
    } else if (!(err instanceof Error && err.name === 'AbortError')) {
      this.#emit({ type: 'error', message: describe(err) })
    }
  }

  #loopError(): TokenRejectedError {
    return new TokenRejectedError(
      `A token fetched from ${this.#endpointName()} to replace a rejected one was rejected as well; ` +
        `not fetching again before ${new Date(this.#blockedUntil).toISOString()} to avoid a loop. ` +
        'Check that the audience, scope and issuer match what the API expects.',
    )
  }

  #endpointName(): string {
    return `the token endpoint of ${this.key}`
  }
}

/** A refresh that found nothing to do or failed is not tried again sooner than this. */
const REFRESH_RETRY_MIN_MS = 1_000

/** Whether `instanceof` and property reads work on `value` (not on a revoked Proxy). */
function inspectable(value: unknown): boolean {
  try {
    // A revoked Proxy throws on its prototype lookup, which every instanceof makes.
    return value instanceof Error || true
  } catch {
    return false
  }
}

/** What a failed holder writes for its waiters: the typed error's fields, never a token. */
function failureOf(err: TokenstashError): FailureRecord {
  const e = err as TokenstashError & Partial<Record<keyof FailureRecord, unknown>>
  const pick = <T>(v: unknown, type: string): T | undefined => (typeof v === type ? (v as T) : undefined)
  return {
    code: err.code,
    message: err.message,
    endpoint: pick(e.endpoint, 'string'),
    status: pick(e.status, 'number'),
    error: pick(e.error, 'string'),
    errorDescription: pick(e.errorDescription, 'string'),
    retryable: pick(e.retryable, 'boolean'),
    retryAfterMs: pick(e.retryAfterMs, 'number'),
    retryAt: pick(e.retryAt, 'number'),
    reason: pick(e.reason, 'string'),
    issuer: pick(e.issuer, 'string'),
  }
}

/** A custom TokenSource is held to the same shape as the built-in ones. */
function checkTokenSet(set: TokenSet, endpoint: string): TokenSet {
  const ok =
    set &&
    typeof set.accessToken === 'string' &&
    set.accessToken !== '' &&
    typeof set.tokenType === 'string' &&
    Number.isFinite(set.issuedAt) &&
    Number.isFinite(set.expiresAt) &&
    set.expiresAt > set.issuedAt
  if (!ok) {
    throw new TokenResponseError(
      `The token source for ${endpoint} returned a malformed TokenSet (needs accessToken, tokenType, issuedAt < expiresAt)`,
      { endpoint, reason: 'bad_token_set' },
    )
  }
  return set
}

/**
 * A two-tier token cache for one source: memory first, the shared `store` second, the token
 * endpoint last — refreshed at 75% of the lifetime, single-flight in the process, one fetch per
 * fleet through a lease in the store.
 *
 * @example
 * ```ts
 * import { createTokenProvider, cognito } from '@tokenstash/core'
 *
 * const orders = createTokenProvider({
 *   source: cognito({ domain: 'pool.auth.eu-west-1.amazoncognito.com', clientId, clientSecret, scopes: ['orders/read'] }),
 * })
 * const res = await fetch('https://orders.example.com/v1/orders', {
 *   headers: { authorization: `Bearer ${await orders.getToken()}` },
 * })
 * ```
 */
export function createTokenProvider(options: TokenProviderOptions): TokenProvider {
  return new Provider(options)
}
