import type { Keyring } from './encryption'
import type { TokenSet } from './types'

// What the provider writes to a shared store: a token, or a cooldown (shared Retry-After).
// Both carry the cache key they were written under, and are sealed when a keyring is given,
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

  async #encode(record: TokenRecord | CooldownRecord): Promise<string> {
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
