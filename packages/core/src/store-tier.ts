import { DEFAULTS } from './defaults'
import type { EntryCodec, FailureRecord } from './entry'
import { StoreError } from './errors'
import { derivedKey } from './key'
import { withTimeout } from './single-flight'
import type { ProviderStats, TokenEvent, TokenSet, TokenStore } from './types'

/** What a store read of the token entry found: the raw value (for compare-and-delete) and the token. */
export interface StoredToken {
  raw: string
  set: TokenSet
}

type Kind = 'read' | 'write'
type Result<T> = { ok: true; value: T } | { ok: false }

export interface StoreTierOptions {
  key: string
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
  /** An acquireLease was sent and no release has been confirmed since. */
  #leaseSent = false
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
    const r = await this.#call('get', 'read', (s) => s.get(this.#o.key))
    if (!r.ok || r.value === undefined) return undefined
    const set = await this.#o.codec.decodeToken(r.value)
    return set && { raw: r.value, set }
  }

  async writeToken(set: TokenSet): Promise<void> {
    const ttl = set.expiresAt - this.#o.now()
    if (ttl <= 0) return
    const value = await this.#o.codec.encodeToken(set)
    await this.#call('set', 'write', (s) => s.set(this.#o.key, value, ttl))
  }

  /** Deletes the entry only if it still holds `token`; queued when the store cannot be reached. */
  async deleteToken(token: string, expiresAt: number): Promise<void> {
    this.#pendingDeletes.set(token, expiresAt)
    await this.#runDelete(token)
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
    await this.#call('delete', 'write', (s) => s.delete(this.#o.key))
  }

  /** True for the winner, false for a loser; true when the store cannot say (fail open). */
  async acquireLease(ttlMs: number): Promise<boolean> {
    const r = await this.#call('acquireLease', 'read', (s) => {
      // Sent: from here on the store may hold our lease, even if the answer never comes back.
      this.#leaseSent = true
      return s.acquireLease(derivedKey.lease(this.#o.key), this.#o.owner, ttlMs)
    })
    return r.ok ? r.value === true : true
  }

  /** Releases our lease; nothing to do when no acquireLease reached the store (skipped while it failed). */
  async releaseLease(): Promise<void> {
    if (!this.#leaseSent) return
    const r = await this.#call('releaseLease', 'write', (s) =>
      s.releaseLease(derivedKey.lease(this.#o.key), this.#o.owner),
    )
    if (r.ok) this.#leaseSent = false
  }

  /** A shared cooldown, capped so a forged or absurd entry cannot silence the fleet for long. */
  async readCooldown(): Promise<number | undefined> {
    const r = await this.#call('get', 'read', (s) => s.get(derivedKey.cooldown(this.#o.key)))
    const until = r.ok ? await this.#o.codec.decodeCooldown(r.value) : undefined
    return until === undefined ? undefined : Math.min(until, this.#o.now() + DEFAULTS.maxCooldownMs)
  }

  async writeCooldown(until: number): Promise<void> {
    const ttl = until - this.#o.now()
    if (ttl <= 0) return
    const value = await this.#o.codec.encodeCooldown(until)
    await this.#call('set', 'write', (s) => s.set(derivedKey.cooldown(this.#o.key), value, ttl))
  }

  async readFailure(): Promise<FailureRecord | undefined> {
    const r = await this.#call('get', 'read', (s) => s.get(derivedKey.failure(this.#o.key)))
    return r.ok ? this.#o.codec.decodeFailure(r.value) : undefined
  }

  async writeFailure(failure: FailureRecord): Promise<void> {
    const value = await this.#o.codec.encodeFailure(failure)
    await this.#call('set', 'write', (s) =>
      s.set(derivedKey.failure(this.#o.key), value, DEFAULTS.failureMarkerMs),
    )
  }

  /**
   * A new holder clears the marker of the previous one, so its waiters do not take it for theirs.
   * Skipped like a read after a failure: with a failing store nobody waits on markers.
   */
  async clearFailure(): Promise<void> {
    await this.#call('delete', 'read', (s) => s.delete(derivedKey.failure(this.#o.key)))
  }

  async #runDelete(token: string): Promise<void> {
    const r = await this.#call('get', 'write', (s) => s.get(this.#o.key))
    if (!r.ok) return
    const stored = r.value === undefined ? undefined : await this.#o.codec.decodeToken(r.value)
    if (r.value !== undefined && stored?.accessToken === token) {
      const raw = r.value
      // Compare-and-delete on the exact stored value: a newer token written meanwhile stays.
      if (!(await this.#call('delete', 'write', (s) => s.delete(this.#o.key, raw))).ok) return
    }
    this.#pendingDeletes.delete(token)
  }

  #skipped(kind: Kind): boolean {
    if (this.#failures === 0) return false
    if (this.#o.now() - this.#lastFailureAt >= DEFAULTS.storeRetryAfterMs) return false
    return kind === 'read' || this.#failures >= DEFAULTS.storeDownAfterFailures
  }

  async #call<T>(op: string, kind: Kind, fn: (store: TokenStore) => Promise<T>): Promise<Result<T>> {
    if (this.#skipped(kind)) return { ok: false }
    const store = this.#store
    try {
      const value = await withTimeout(
        Promise.resolve().then(() => fn(store)),
        this.#o.timeoutMs,
        () =>
          new StoreError(`Store ${op} took longer than storeTimeoutMs (${this.#o.timeoutMs} ms)`, {
            operation: op,
          }),
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
      return { ok: false }
    }
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
