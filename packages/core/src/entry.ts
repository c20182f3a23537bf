import type { Keyring } from './encryption'
import type { TokenSet } from './types'

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
  async decodeToken(raw: string | undefined): Promise<TokenSet | undefined> {
    const r = await this.#decode(raw)
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

  async decodeCooldown(raw: string | undefined): Promise<number | undefined> {
    const r = await this.#decode(raw)
    return r?.kind === 'cooldown' && Number.isFinite(r.until) ? r.until : undefined
  }

  async decodeFailure(raw: string | undefined): Promise<FailureRecord | undefined> {
    const r = await this.#decode(raw)
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
  async #decode(raw: string | undefined): Promise<Record<string, any> | undefined> {
    if (typeof raw !== 'string' || raw === '') return undefined
    // With a keyring, plaintext JSON is refused: a downgrade is as bad as a forgery.
    const json = this.keyring ? await this.keyring.open(raw, this.key) : raw
    if (json === undefined) return undefined
    try {
      const r = JSON.parse(json)
      return r && typeof r === 'object' && r.v === 1 && r.key === this.key ? r : undefined
    } catch {
      return undefined
    }
  }
}
