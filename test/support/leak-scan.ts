import { createPrivateKey, KeyObject } from 'node:crypto'
import { inspect } from 'node:util'

// The matcher behind the leak guard (test/support/leak-guard.ts): what counts as a secret, what
// was captured on which channel, and where a secret shows up in it. It holds no global state, so
// a test can plant leaks in an instance of its own and see each one found.

/**
 * Secrets shorter than this are not searched: test literals such as `tok-1` would match every
 * `tok-10`, and no real access token, client secret or key is this short. It is also the window
 * of the rolling hash, so the scan costs one pass over the captured text, whatever the number of
 * secrets.
 */
export const SECRET_FLOOR = 16

export type SecretKind =
  | 'access token'
  | 'access token (JWT payload)'
  | 'refresh token'
  | 'ID token'
  | 'client secret'
  | 'client credentials (Basic)'
  | 'private key'
  | 'encryption key'
  | 'HMAC key'
  | 'proxy client credential'

/** Token kinds: what a store with `encryption: false` holds in clear by the user's choice. */
const TOKEN_KINDS = new Set<SecretKind>([
  'access token',
  'access token (JWT payload)',
  'refresh token',
  'ID token',
])

export type Channel =
  | 'console'
  | 'stdout'
  | 'stderr'
  | 'event'
  | 'logger'
  | 'error'
  | 'store key'
  | 'store value'
  | 'store value (encryption: false)'
  | 'proxy answer'
  | 'child output'

export const CHANNELS: readonly Channel[] = [
  'console',
  'stdout',
  'stderr',
  'event',
  'logger',
  'error',
  'store key',
  'store value',
  'store value (encryption: false)',
  'proxy answer',
  'child output',
]

/** Channels where tokens may appear by design; client secrets and keys are still searched. */
const TOKENS_ALLOWED = new Set<Channel>(['store value (encryption: false)'])

/** One secret found: where, and what kind, never the secret itself. */
export interface Leak {
  channel: Channel
  /** The API or stream it came through, and the test that was running. */
  where: string
  kind: SecretKind
  /** 60 characters either side, every known secret replaced by `<kind>`. */
  context: string
}

export interface LeakFigures {
  secrets: number
  /** Items captured per channel (each error counted once, read in all its views). */
  captured: Record<Channel, number>
  /** Distinct texts scanned per channel (repeated lines and keys are scanned once). */
  distinct: Record<Channel, number>
}

const B = 31
// B^(W-1) mod 2^32, to take the leaving character out of the rolling hash.
const POW = Array.from({ length: SECRET_FLOOR - 1 }).reduce<number>((p) => Math.imul(p, B), 1)

function hashOf(text: string, from: number): number {
  let h = 0
  for (let i = from; i < from + SECRET_FLOOR; i++) h = (Math.imul(h, B) + text.charCodeAt(i)) | 0
  return h
}

/**
 * Every view of an error a logger may take: `util.inspect` at depth 12 (with and without hidden
 * properties), `JSON.stringify`, and `toJSON()` when it has one.
 *
 * @example
 * ```ts
 * for (const { view, text } of errorViews(err)) expect(text).not.toContain(token)
 * ```
 */
export function errorViews(error: unknown): { view: string; text: string }[] {
  const views = [
    { view: 'util.inspect', text: inspect(error, { depth: 12 }) },
    { view: 'util.inspect showHidden', text: inspect(error, { depth: 12, showHidden: true }) },
  ]
  let json: string
  try {
    json = JSON.stringify(error) ?? ''
  } catch (err) {
    json = `JSON.stringify threw ${String(err)}`
  }
  views.push({ view: 'JSON.stringify', text: json })
  const toJSON = (error as { toJSON?: () => unknown } | null)?.toJSON
  if (typeof toJSON === 'function')
    views.push({ view: 'toJSON()', text: inspect(toJSON.call(error), { depth: 12 }) })
  return views
}

const zero = (): Record<Channel, number> =>
  Object.fromEntries(CHANNELS.map((c) => [c, 0])) as Record<Channel, number>

/**
 * Secrets, and everything captured, and the search of one in the other.
 *
 * @example
 * ```ts
 * const scan = new LeakScan()
 * scan.secret(token, 'access token')
 * scan.capture('console', `got ${token}`, 'console.log')
 * expect(scan.leaks()).toEqual([expect.objectContaining({ channel: 'console', kind: 'access token' })])
 * ```
 */
export class LeakScan {
  readonly #secrets = new Map<string, SecretKind>()
  /** First 16 characters' hash -> secrets starting with them. */
  readonly #table = new Map<number, string[]>()
  readonly #texts = new Map<Channel, Map<string, string>>(CHANNELS.map((c) => [c, new Map()]))
  readonly #errors = new Map<unknown, string>()
  readonly #captured = zero()

  /** Registers a secret (ignored below {@link SECRET_FLOOR}); a JWT's payload counts on its own. */
  secret(value: unknown, kind: SecretKind): void {
    if (typeof value !== 'string' || value.length < SECRET_FLOOR || this.#secrets.has(value)) return
    this.#secrets.set(value, kind)
    const h = hashOf(value, 0)
    const bucket = this.#table.get(h)
    if (bucket) bucket.push(value)
    else this.#table.set(h, [value])
    const parts = value.split('.')
    if (TOKEN_KINDS.has(kind) && parts.length === 3) this.secret(parts[1], 'access token (JWT payload)')
  }

  /** Registers a private key (a JWK, a KeyObject, a CryptoKey or a PEM): its private members. */
  privateKey(key: unknown): void {
    let jwk: Record<string, unknown> | undefined
    try {
      if (key instanceof KeyObject) jwk = key.export({ format: 'jwk' }) as Record<string, unknown>
      else if (typeof key === 'string')
        jwk = createPrivateKey(key).export({ format: 'jwk' }) as Record<string, unknown>
      else if (Object.prototype.toString.call(key) === '[object CryptoKey]')
        jwk = KeyObject.from(key as Parameters<typeof KeyObject.from>[0]).export({ format: 'jwk' }) as Record<
          string,
          unknown
        >
      else if (key && typeof key === 'object') jwk = key as Record<string, unknown>
    } catch {
      return
    }
    for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) this.secret(jwk?.[member], 'private key')
  }

  /** Registers 32-byte keys in the forms they are written in: base64, base64url, hex. */
  keyBytes(value: unknown, kind: SecretKind): void {
    if (Array.isArray(value)) {
      for (const v of value) this.keyBytes(v, kind)
      return
    }
    if (typeof value === 'string') {
      this.secret(value, kind)
      value = Buffer.from(value, /[-_]/.test(value) ? 'base64url' : 'base64')
    }
    if (!(value instanceof Uint8Array) || value.length < 12) return
    const bytes = Buffer.from(value)
    for (const encoding of ['base64', 'base64url', 'hex'] as const)
      this.secret(bytes.toString(encoding), kind)
  }

  /** Records one captured text; `where` may be a function, called only for a text not seen before. */
  capture(channel: Channel, text: string, where: string | (() => string)): void {
    this.#captured[channel]++
    const texts = this.#texts.get(channel)!
    if (!texts.has(text)) texts.set(text, typeof where === 'function' ? where() : where)
  }

  /** Records an error that left a public API; read at the end as JSON, util.inspect and toJSON(). */
  error(error: unknown, where: string): void {
    if (this.#errors.has(error)) return
    this.#captured.error++
    this.#errors.set(error, where)
  }

  /** What `value` is known as, if it is a known secret. */
  kindOf(value: string): SecretKind | undefined {
    return this.#secrets.get(value)
  }

  figures(): LeakFigures {
    const distinct = zero()
    for (const [channel, texts] of this.#texts) distinct[channel] = texts.size
    distinct.error = this.#errors.size
    return { secrets: this.#secrets.size, captured: { ...this.#captured }, distinct }
  }

  /** Every secret found in every capture, at most one per captured text. */
  leaks(): Leak[] {
    const found: Leak[] = []
    for (const [error, where] of this.#errors) {
      for (const { view, text } of errorViews(error)) {
        const hit = this.#find(text, false)
        if (!hit) continue
        const kind = this.#secrets.get(hit.secret)!
        found.push({
          channel: 'error',
          where: `${where}, seen by ${view}`,
          kind,
          context: this.#context(text, hit.at, hit.secret),
        })
        break
      }
    }
    for (const [channel, texts] of this.#texts) {
      const tokensAllowed = TOKENS_ALLOWED.has(channel)
      for (const [text, where] of texts) {
        const hit = this.#find(text, tokensAllowed)
        if (hit)
          found.push({
            channel,
            where,
            kind: this.#secrets.get(hit.secret)!,
            context: this.#context(text, hit.at, hit.secret),
          })
      }
    }
    return found.sort((a, b) => CHANNELS.indexOf(a.channel) - CHANNELS.indexOf(b.channel))
  }

  #find(text: string, tokensAllowed: boolean): { secret: string; at: number } | undefined {
    if (text.length < SECRET_FLOOR || this.#table.size === 0) return undefined
    let h = hashOf(text, 0)
    for (let i = 0; ; i++) {
      const bucket = this.#table.get(h)
      if (bucket) {
        for (const secret of bucket) {
          if (tokensAllowed && TOKEN_KINDS.has(this.#secrets.get(secret)!)) continue
          if (text.startsWith(secret, i)) return { secret, at: i }
        }
      }
      if (i + SECRET_FLOOR >= text.length) return undefined
      h = (Math.imul(h - Math.imul(text.charCodeAt(i), POW), B) + text.charCodeAt(i + SECRET_FLOOR)) | 0
    }
  }

  #context(text: string, at: number, secret: string): string {
    // Masked on the whole text, then cut: no cut can split a secret and leave a part unmasked.
    const left = this.#mask(text.slice(0, at))
    const right = this.#mask(text.slice(at + secret.length))
    return `${left.slice(-60)}<${this.#secrets.get(secret)}>${right.slice(0, 60)}`
  }

  #mask(text: string): string {
    let out = text
    // Longest first, so a token is masked whole rather than by its payload.
    const secrets = [...this.#secrets.keys()].sort((a, b) => b.length - a.length)
    for (const s of secrets) if (out.includes(s)) out = out.split(s).join(`<${this.#secrets.get(s)}>`)
    return out
  }
}

/** A report of leaks for a failure message: channel, kind, where, and masked context. */
export function describeLeaks(file: string, leaks: readonly Leak[]): string {
  const lines = leaks
    .slice(0, 20)
    .map((l) => `  - ${l.kind} in ${l.channel} (${l.where}): ${JSON.stringify(l.context)}`)
  const more = leaks.length > 20 ? `\n  … and ${leaks.length - 20} more` : ''
  return `Leak guard: ${leaks.length} secret(s) found in what ${file} logged, published, threw or stored:\n${lines.join('\n')}${more}`
}

/** What the leak guard of the running integration file offers to test support code. */
export interface LeakGuardApi {
  /** A secret only a test server knows (a token it minted, a client it registered). */
  secret(value: unknown, kind: SecretKind): void
  /** A text to scan that did not pass through a captured channel (a child process's output). */
  capture(channel: Channel, text: string, where: string): void
}

/**
 * The leak guard of the running file (test/support/leak-guard.ts), or undefined outside the
 * integration project; support code reports to it what the guard cannot see for itself.
 *
 * @example
 * ```ts
 * leakGuard()?.secret(minted, 'access token')
 * child.stderr.on('data', (chunk) => leakGuard()?.capture('child output', String(chunk), 'my-cli stderr'))
 * ```
 */
export function leakGuard(): LeakGuardApi | undefined {
  return (globalThis as Record<symbol, LeakGuardApi | undefined>)[Symbol.for('tokenstash.leakGuard')]
}
