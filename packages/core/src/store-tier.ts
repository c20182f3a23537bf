import { DEFAULTS } from './defaults'
import type { EntryCodec, FailureRecord } from './entry'
import { StoreEntryUnreadableError, StoreError } from './errors'
import { derivedKey } from './key'
import { withTimeout } from './single-flight'
import type { ProviderStats, StoreCallOptions, TokenEvent, TokenSet, TokenStore } from './types'

/** What a store read of the token entry found: the raw value (for compare-and-delete) and the token. */
export interface StoredToken {
  raw: string
  set: TokenSet
}

type Kind = 'read' | 'write'
/** A failed call may still be on its way (`late`): the store was asked and gave no answer in time. */
type Result<T> = { ok: true; value: T } | { ok: false; late?: Promise<T> }

const noop = () => {}

/**
 * One attempt at the fleet's lease, owned by `owner` (this instance's id and the attempt's number),
 * so a lease and a failure marker belong to one holder and one attempt.
 */
export class Lease {
  /**
   * `won`: the store granted it; `lost`: someone else holds it; `unknown`: the store did not answer
   * (the provider fails open; an acquire that lands later is released at once).
   */
  state: 'won' | 'lost' | 'unknown' = 'unknown'
  /** A renewal found the lease gone or taken: this attempt no longer holds it. */
  gone = false
  /** Set by the tier: stops renewing and releases (in the background). */
  end: () => void = noop

  constructor(readonly owner: string) {}

  /** Whether this attempt holds the lease as far as it knows: granted and not lost since. */
  get held(): boolean {
    return this.state === 'won' && !this.gone
  }
}

export interface StoreTierOptions {
  key: string
  /** This instance's part of every lease owner; each attempt appends its number. */
  owner: string
  codec: EntryCodec
  timeoutMs: number
  now: () => number
  emit: (event: Omit<TokenEvent, 'key'>) => void
  stats: ProviderStats
}

/**
 * The shared second tier as the provider sees it: every call bounded by `storeTimeoutMs` (a ref'd
 * timer), every failure degrading to "nothing there", entries encoded and sealed by the codec.
 *
 * Skipping after failures is split by kind. One failure skips *reads* for `storeRetryAfterMs`, so no
 * caller waits on a store that just failed. Writes (the token, the lease release, cooldowns, the
 * compare-and-delete of a rejected token) are still tried: losing one costs the fleet a token request
 * or serves a rejected token, and a single slow call says little about the next. Only after
 * `storeDownAfterFailures` consecutive failures are writes skipped too. A compare-and-delete that
 * could not reach the store is queued and run again once the store answers.
 */
export class StoreTier {
  readonly #store: TokenStore
  readonly #o: StoreTierOptions
  #failures = 0
  #lastFailureAt = Number.NEGATIVE_INFINITY
  #reportedDown = false
  /** Lease attempts made, for per-attempt owners. */
  #attempts = 0
  /** Rejected tokens whose compare-and-delete has not reached the store yet, with their expiry. */
  readonly #pendingDeletes = new Map<string, number>()

  constructor(store: TokenStore, options: StoreTierOptions) {
    this.#store = store
    this.#o = options
  }

  /** Whether reads are being skipped after a recent failure. */
  get readsSkipped(): boolean {
    return this.#skipped('read')
  }

  async readToken(): Promise<StoredToken | undefined> {
    const r = await this.#call('get', 'read', (s, o) => s.get(this.#o.key, o))
    if (!r.ok || r.value === undefined) return undefined
    const set = this.#o.codec.decodeToken(r.value)
    return set && { raw: r.value, set }
  }

  async writeToken(set: TokenSet): Promise<void> {
    const ttl = set.expiresAt - this.#o.now()
    if (ttl <= 0) return
    const value = await this.#o.codec.encodeToken(set)
    await this.#call('set', 'write', (s, o) => s.set(this.#o.key, value, ttl, o))
  }

  /** Deletes the entry only if it still holds `token`; queued when the store cannot be reached. */
  async deleteToken(token: string, expiresAt: number): Promise<void> {
    this.#pendingDeletes.set(token, expiresAt)
    await this.#runDelete(token)
  }

  /** Compare-and-deletes are queued (the store was failing when they were asked for). */
  get hasPendingDeletes(): boolean {
    return this.#pendingDeletes.size > 0
  }

  /** Runs the compare-and-deletes queued while the store was failing (an expired token is gone anyway). */
  async flushDeletes(): Promise<void> {
    for (const [token, expiresAt] of [...this.#pendingDeletes]) {
      if (expiresAt <= this.#o.now()) this.#pendingDeletes.delete(token)
      else if (this.#skipped('write')) return
      else await this.#runDelete(token)
    }
  }

  async deleteAll(): Promise<void> {
    await this.#call('delete', 'write', (s, o) => s.delete(this.#o.key, undefined, o))
  }

  /**
   * One attempt at the lease, under a new owner. With a store that has `renewLease` a granted lease
   * is renewed every third of `ttlMs` until `end()`, for `holdMs` at most (a fetch that outlives its
   * own budget must not hold the fleet forever; the timer is unref'd, since the fetch it guards
   * holds its own handles); an acquire that answers after storeTimeoutMs (its signal aborted,
   * ignored by the store) is released as soon as it lands.
   */
  async acquireLease(ttlMs: number, holdMs = Number.POSITIVE_INFINITY): Promise<Lease> {
    const lease = new Lease(`${this.#o.owner}:${++this.#attempts}`)
    const key = derivedKey.lease(this.#o.key)
    let sent = false
    const r = await this.#call('acquireLease', 'read', (s, o) => {
      sent = true
      return s.acquireLease(key, lease.owner, ttlMs, o)
    })
    if (r.ok) {
      lease.state = r.value === true ? 'won' : 'lost'
    } else {
      r.late?.then((won) => {
        if (won === true) this.#release(lease.owner)
      }, noop)
    }
    let timer: ReturnType<typeof setTimeout> | undefined
    let ended = false
    let renewals = Math.floor(holdMs / (ttlMs / 3))
    const schedule = () => {
      if (ended || renewals-- <= 0) return
      timer = setTimeout(renew, ttlMs / 3)
      timer.unref?.()
    }
    const renew = () => {
      timer = undefined
      void this.#call('renewLease', 'write', (s, o) => s.renewLease!(key, lease.owner, ttlMs, o)).then(
        (x) => {
          if (x.ok && x.value !== true) lease.gone = true
          else schedule()
        },
      )
    }
    if (lease.state === 'won' && typeof this.#store.renewLease === 'function') schedule()
    lease.end = () => {
      if (ended) return
      ended = true
      clearTimeout(timer)
      // Won, or asked without an answer (the store may have granted it): release. Nobody waits on
      // it: a lost release costs the fleet at most the lease's ttl, a hung one must not cost a caller.
      if (lease.state === 'won' || (lease.state === 'unknown' && sent && !r.ok && !r.late))
        this.#release(lease.owner)
    }
    return lease
  }

  /** The owner string of the live lease, if any (stores keep the owner as the lease's value). */
  async readLeaseOwner(): Promise<string | undefined> {
    const r = await this.#call('get', 'read', (s, o) => s.get(derivedKey.lease(this.#o.key), o))
    return r.ok && typeof r.value === 'string' ? r.value : undefined
  }

  /**
   * Nobody waits on a release, so its timer does not keep the process up: a store that never
   * answers it held a service's shutdown (and a test worker's exit) for a whole storeTimeoutMs.
   */
  #release(owner: string): void {
    void this.#call(
      'releaseLease',
      'write',
      (s, o) => s.releaseLease(derivedKey.lease(this.#o.key), owner, o),
      false,
    )
  }

  /** A shared cooldown, capped so a forged or absurd entry cannot silence the fleet for long. */
  async readCooldown(): Promise<number | undefined> {
    const r = await this.#call('get', 'read', (s, o) => s.get(derivedKey.cooldown(this.#o.key), o))
    const until = r.ok ? this.#o.codec.decodeCooldown(r.value) : undefined
    return until === undefined ? undefined : Math.min(until, this.#o.now() + DEFAULTS.maxCooldownMs)
  }

  async writeCooldown(until: number): Promise<void> {
    const ttl = until - this.#o.now()
    if (ttl <= 0) return
    const value = await this.#o.codec.encodeCooldown(until)
    await this.#call('set', 'write', (s, o) => s.set(derivedKey.cooldown(this.#o.key), value, ttl, o))
  }

  async readFailure(): Promise<FailureRecord | undefined> {
    const r = await this.#call('get', 'read', (s, o) => s.get(derivedKey.failure(this.#o.key), o))
    return r.ok ? this.#o.codec.decodeFailure(r.value) : undefined
  }

  async writeFailure(failure: FailureRecord): Promise<void> {
    const value = await this.#o.codec.encodeFailure(failure)
    await this.#call('set', 'write', (s, o) =>
      s.set(derivedKey.failure(this.#o.key), value, DEFAULTS.failureMarkerMs, o),
    )
  }

  /**
   * Marks the key as used now: a timestamp, not a secret, kept for a day (the longest
   * `onlyIfUsedWithinMs` a warmer accepts). Fire-and-forget by the provider, at most once a minute,
   * so it goes around the failure accounting and its timer: a mark frozen with its Lambda and
   * thawed later must not count the store as down for the next invocation's reads.
   */
  markUse(at: number): void {
    if (this.#skipped('write')) return
    Promise.resolve()
      .then(() => this.#store.set(derivedKey.used(this.#o.key), String(at), DEFAULTS.useMarkTtlMs))
      .catch(() => {})
  }

  /** When an instance last marked the key as used; undefined when never (or the store cannot say). */
  async readUse(): Promise<number | undefined> {
    const r = await this.#call('get', 'read', (s) => s.get(derivedKey.used(this.#o.key)))
    const at = r.ok && r.value !== undefined ? Number(r.value) : Number.NaN
    return Number.isFinite(at) ? at : undefined
  }

  async #runDelete(token: string): Promise<void> {
    const r = await this.#call('get', 'write', (s, o) => s.get(this.#o.key, o))
    if (!r.ok) return
    const stored = r.value === undefined ? undefined : this.#o.codec.decodeToken(r.value)
    if (r.value !== undefined && stored?.accessToken === token) {
      const raw = r.value
      // Compare-and-delete on the exact stored value: a newer token written meanwhile stays.
      if (!(await this.#call('delete', 'write', (s, o) => s.delete(this.#o.key, raw, o))).ok) return
    }
    this.#pendingDeletes.delete(token)
  }

  #skipped(kind: Kind): boolean {
    if (this.#failures === 0) return false
    if (this.#o.now() - this.#lastFailureAt >= DEFAULTS.storeRetryAfterMs) return false
    return kind === 'read' || this.#failures >= DEFAULTS.storeDownAfterFailures
  }

  async #call<T>(
    op: string,
    kind: Kind,
    fn: (store: TokenStore, options: StoreCallOptions) => Promise<T>,
    waited = true,
  ): Promise<Result<T>> {
    if (this.#skipped(kind)) return { ok: false }
    const store = this.#store
    // Aborted when the provider stops waiting, so a store that passes it on (the AWS SDK's
    // abortSignal) does not land the call later.
    const controller = new AbortController()
    // Called now (a throw becomes a rejection), not a microtask later: the read starts at once.
    const call = new Promise<T>((resolve) => resolve(fn(store, { signal: controller.signal }))).catch(
      (err: unknown) => {
        // The store answered with an entry it cannot interpret: a miss the operator must hear
        // about, not a failing store.
        if (!isUnreadableEntry(err)) throw err
        this.#o.emit({ type: 'store-unreadable', reason: 'corrupt', message: describe(err) })
        return undefined as T
      },
    )
    let timedOut = false
    try {
      const value = await withTimeout(
        call,
        this.#o.timeoutMs,
        () => {
          timedOut = true
          controller.abort()
          return new StoreError(`Store ${op} took longer than storeTimeoutMs (${this.#o.timeoutMs} ms)`, {
            operation: op,
          })
        },
        waited,
      )
      this.#failures = 0
      if (this.#reportedDown) {
        this.#reportedDown = false
        this.#o.emit({ type: 'store-recovered' })
      }
      return { ok: true, value }
    } catch (err) {
      this.#o.stats.storeErrors++
      this.#failures++
      this.#lastFailureAt = this.#o.now()
      if (!this.#reportedDown) {
        // Once per outage, not once per call.
        this.#reportedDown = true
        const error =
          err instanceof StoreError
            ? err
            : new StoreError(`Store ${op} failed: ${describe(err)}`, { operation: op, cause: err })
        this.#o.emit({ type: 'store-error', code: error.code, message: error.message })
      }
      if (!timedOut) return { ok: false }
      call.catch(noop)
      return { ok: false, late: call }
    }
  }
}

/** A store's {@link StoreEntryUnreadableError}, from this copy of core or another one. */
function isUnreadableEntry(err: unknown): boolean {
  if (err instanceof StoreEntryUnreadableError) return true
  try {
    return (
      err instanceof Error &&
      (err as { unreadable?: unknown }).unreadable === true &&
      err.name === 'StoreEntryUnreadableError'
    )
  } catch {
    return false
  }
}

/** A foreign error as one short line; never throws, whatever was thrown. */
export function describe(err: unknown): string {
  try {
    if (err instanceof Error) return `${err.name}: ${err.message}`.slice(0, 300)
    return String(err).slice(0, 300)
  } catch {
    return 'an error that cannot be shown'
  }
}
