import { type Keyring, looksClear } from './encryption'
import type { TokenSet, UnreadableReason } from './types'

// What the provider writes to a shared store: a token, a cooldown (shared Retry-After), or the
// failure of a lease holder (a short negative marker for the instances waiting on it).
// All carry the cache key they were written under, and are sealed when a keyring is given,
// so a value copied under another key, altered or forged is a miss.

interface TokenRecord {
  v: 1
  kind: 'token'
  key: string
  t: string
  tt: string
  ia: number
  ea: number
  s?: string
}

interface CooldownRecord {
  v: 1
  kind: 'cooldown'
  key: string
  until: number
}

/**
 * What a lease holder whose fetch failed tells the instances waiting for it: enough to throw the
 * same typed error. Messages of tokenstash errors hold no token or secret.
 */
export interface FailureRecord {
  /**
   * The lease attempt that failed (its owner string). Waiters trust a marker only when it names
   * the holder they saw on the lease, so a former holder's failure never fails a live holder's waiters.
   */
  owner?: string
  code: string
  message: string
  endpoint?: string
  status?: number
  error?: string
  errorDescription?: string
  retryable?: boolean
  retryAfterMs?: number
  retryAt?: number
  reason?: string
  issuer?: string
}

interface StoredFailure extends FailureRecord {
  v: 1
  kind: 'failure'
  key: string
}

export class EntryCodec {
  constructor(
    readonly key: string,
    private readonly keyring: Keyring | undefined,
    /** Told why an entry could not be opened (the provider's `store-unreadable` event). */
    private readonly onUnreadable?: (reason: UnreadableReason) => void,
  ) {}

  encodeToken(set: TokenSet): Promise<string> {
    const record: TokenRecord = {
      v: 1,
      kind: 'token',
      key: this.key,
      t: set.accessToken,
      tt: set.tokenType,
      ia: set.issuedAt,
      ea: set.expiresAt,
      ...(set.scope === undefined ? {} : { s: set.scope }),
    }
    return this.#encode(record)
  }

  encodeCooldown(until: number): Promise<string> {
    return this.#encode({ v: 1, kind: 'cooldown', key: this.key, until } satisfies CooldownRecord)
  }

  encodeFailure(failure: FailureRecord): Promise<string> {
    return this.#encode({ ...failure, v: 1, kind: 'failure', key: this.key } satisfies StoredFailure)
  }

  /** A token, or undefined for anything that is not a well-formed token entry of this key. */
  // Synchronous, as node:crypto is: a cold instance's first read pays no promise hops for them.
  decodeToken(raw: string | undefined): TokenSet | undefined {
    const r = this.#decode(raw)
    if (
      r?.kind !== 'token' ||
      typeof r.t !== 'string' ||
      r.t === '' ||
      typeof r.tt !== 'string' ||
      !Number.isFinite(r.ia) ||
      !Number.isFinite(r.ea) ||
      r.ea <= r.ia ||
      (r.s !== undefined && typeof r.s !== 'string')
    ) {
      if (r?.kind === 'token') this.#unreadable('corrupt')
      return undefined
    }
    return Object.freeze({
      accessToken: r.t,
      tokenType: r.tt,
      issuedAt: r.ia,
      expiresAt: r.ea,
      ...(r.s === undefined ? {} : { scope: r.s }),
    })
  }

  decodeCooldown(raw: string | undefined): number | undefined {
    const r = this.#decode(raw)
    return r?.kind === 'cooldown' && Number.isFinite(r.until) ? r.until : undefined
  }

  decodeFailure(raw: string | undefined): FailureRecord | undefined {
    const r = this.#decode(raw)
    if (r?.kind !== 'failure' || typeof r.code !== 'string' || typeof r.message !== 'string') return undefined
    const failure: FailureRecord = { code: r.code, message: r.message }
    for (const name of ['owner', 'endpoint', 'error', 'errorDescription', 'reason', 'issuer'] as const)
      if (typeof r[name] === 'string') failure[name] = r[name]
    for (const name of ['status', 'retryAfterMs', 'retryAt'] as const)
      if (Number.isFinite(r[name])) failure[name] = r[name]
    if (typeof r.retryable === 'boolean') failure.retryable = r.retryable
    return failure
  }

  async #encode(record: TokenRecord | CooldownRecord | StoredFailure): Promise<string> {
    const json = JSON.stringify(record)
    return this.keyring ? this.keyring.seal(json, this.key) : json
  }

  // biome-ignore lint/suspicious/noExplicitAny: the record is checked field by field by the callers
  #decode(raw: string | undefined): Record<string, any> | undefined {
    if (typeof raw !== 'string' || raw === '') return undefined
    // With a keyring, plaintext JSON is refused: a downgrade is as bad as a forgery.
    const json = this.keyring ? this.keyring.openEntry(raw, this.key) : raw
    if (typeof json !== 'string') return this.#unreadable(json.reason)
    if (!this.keyring && !looksClear(raw) && raw.split('.').length === 5) return this.#unreadable('wrong-key')
    try {
      const r = JSON.parse(json)
      if (!r || typeof r !== 'object' || r.v !== 1) return this.#unreadable('corrupt')
      return r.key === this.key ? r : this.#unreadable('other-key')
    } catch {
      return this.#unreadable('corrupt')
    }
  }

  #unreadable(reason: UnreadableReason): undefined {
    try {
      this.onUnreadable?.(reason)
    } catch {
      // Observability must never break token serving.
    }
    return undefined
  }
}
