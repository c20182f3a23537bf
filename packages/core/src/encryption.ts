import { ConfigError } from './errors'
import { decodeSegment } from './jwt'
import { nodeCrypto } from './node-crypto'
import type { UnreadableReason } from './types'

/** One 32-byte key, or several to rotate: the first encrypts, all decrypt. */
export type EncryptionKeyInput = string | Uint8Array | ReadonlyArray<string | Uint8Array>

interface Key {
  kid: string
  bytes: Uint8Array
}

const HEADER = 'ts.key'
// JWE compact serialization (RFC 7516) with alg `dir` and enc A256GCM, written with node:crypto:
// it is the only algorithm pair a store entry uses, and a general JWE library carries every key
// management algorithm into a Lambda bundle (jose's compact JWE was 27 KB of an 85 KB handler)
// and decrypts through WebCrypto, whose key import and thread-pool hop cost more than the store read.
const IV_BYTES = 12
const TAG_BYTES = 16
const BASE64URL = /^[A-Za-z0-9_-]+$/

/** A clear (unencrypted) entry, as an instance with `encryption: false` writes it. */
export function looksClear(raw: string): boolean {
  return raw.startsWith('{"v":')
}

/** How a string key is read, said in every key error: the usual mistakes are hex and passphrases. */
const HOW_READ =
  'is read as base64 (or base64url) of 32 random bytes: generate one with `openssl rand -base64 32`, or pass a Buffer of 32 bytes'

function decodeKey(input: string | Uint8Array, index: number): Uint8Array {
  const where = index === 0 ? '`encryptionKey`' : `\`encryptionKey[${index}]\``
  let bytes: Uint8Array
  if (input instanceof Uint8Array) bytes = input
  else if (typeof input === 'string') {
    const text = input.trim()
    // The key's value is never part of a message; its length and shape are.
    if (/^[0-9a-fA-F]{64}$/.test(text)) {
      throw new ConfigError(
        `${where} looks like hex (64 hex digits); it ${HOW_READ} (for a hex key: Buffer.from(key, 'hex'))`,
      )
    }
    if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(text)) {
      throw new ConfigError(
        `${where} is not base64 (a passphrase?); it ${HOW_READ}. Read it from TOKENSTASH_ENCRYPTION_KEY or a secret store`,
      )
    }
    bytes = Buffer.from(text.replaceAll('-', '+').replaceAll('_', '/'), 'base64')
    if (bytes.length !== 32) {
      throw new ConfigError(
        `${where} decodes to ${bytes.length} bytes, not 32 (a passphrase or a key of another size?); it ${HOW_READ}`,
      )
    }
  } else {
    throw new ConfigError(
      `Expected ${where} to be a base64 string or a Uint8Array of 32 bytes, got ${typeof input}`,
    )
  }
  if (bytes.length !== 32) {
    throw new ConfigError(`Expected ${where} to be 32 bytes (AES-256), got ${bytes.length} bytes`)
  }
  return new Uint8Array(bytes)
}

/**
 * AES-256-GCM JWE (`dir`) for entries in a shared store. The cache key is in the protected header,
 * which GCM authenticates: an entry copied under another key, altered, truncated or sealed with an
 * unknown key decrypts to `undefined`, never to a token.
 */
export class Keyring {
  readonly #keys: Key[]

  constructor(input: EncryptionKeyInput) {
    const list = Array.isArray(input) ? input : [input as string | Uint8Array]
    if (list.length === 0) throw new ConfigError('Expected `encryptionKey` to hold at least one key')
    this.#keys = list.map((k, i) => {
      const bytes = decodeKey(k, i)
      return { bytes, kid: nodeCrypto().createHash('sha256').update(bytes).digest('base64url').slice(0, 8) }
    })
  }

  async seal(plaintext: string, cacheKey: string): Promise<string> {
    const key = this.#keys[0]!
    const header = Buffer.from(
      JSON.stringify({ alg: 'dir', enc: 'A256GCM', kid: key.kid, [HEADER]: cacheKey }),
    ).toString('base64url')
    const iv = nodeCrypto().randomBytes(IV_BYTES)
    const cipher = nodeCrypto().createCipheriv('aes-256-gcm', key.bytes, iv, { authTagLength: TAG_BYTES })
    // The protected header is the additional authenticated data (RFC 7516 §5.1, step 14).
    cipher.setAAD(Buffer.from(header, 'ascii'))
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
    return [
      header,
      '', // `dir`: no encrypted key
      iv.toString('base64url'),
      ciphertext.toString('base64url'),
      cipher.getAuthTag().toString('base64url'),
    ].join('.')
  }

  async open(jwe: string, cacheKey: string): Promise<string | undefined> {
    const r = this.openEntry(jwe, cacheKey)
    return typeof r === 'string' ? r : undefined
  }

  /**
   * The plaintext, or why there is none: `other-key` (sealed for another cache key), `wrong-key`
   * (sealed with a key this ring does not hold, or not a JWE at all but a clear entry), `corrupt`.
   */
  openEntry(jwe: string, cacheKey: string): string | { reason: UnreadableReason } {
    const parts = jwe.split('.')
    if (parts.length !== 5) return { reason: looksClear(jwe) ? 'wrong-key' : 'corrupt' }
    const [protectedHeader, encryptedKey, ivText, ciphertextText, tagText] = parts as [
      string,
      string,
      string,
      string,
      string,
    ]
    const corrupt = { reason: 'corrupt' } as const
    if (
      encryptedKey !== '' ||
      ![protectedHeader, ivText, ciphertextText, tagText].every((p) => BASE64URL.test(p))
    )
      return corrupt
    const header = decodeSegment(protectedHeader)
    if (header?.alg !== 'dir' || header.enc !== 'A256GCM') return corrupt
    if (header[HEADER] !== cacheKey) return { reason: 'other-key' }
    // Nothing this code would have to understand may be in the header (RFC 7516 §4.1.13, zip).
    if (header.crit !== undefined || header.zip !== undefined) return corrupt
    const iv = Buffer.from(ivText, 'base64url')
    const tag = Buffer.from(tagText, 'base64url')
    if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) return corrupt
    const ciphertext = Buffer.from(ciphertextText, 'base64url')
    const byKid = this.#keys.filter((k) => k.kid === header.kid)
    for (const key of byKid.length ? byKid : this.#keys) {
      try {
        const decipher = nodeCrypto().createDecipheriv('aes-256-gcm', key.bytes, iv, {
          authTagLength: TAG_BYTES,
        })
        decipher.setAAD(Buffer.from(protectedHeader, 'ascii'))
        decipher.setAuthTag(tag)
        return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8')
      } catch {
        // Try the next key: rotation means older entries may be sealed with a later key in the list.
      }
    }
    // Sealed under a key id none of ours has: another key. One of ours that fails: altered.
    return byKid.length ? corrupt : { reason: 'wrong-key' }
  }
}
