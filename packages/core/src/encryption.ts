import { createHash } from 'node:crypto'
import { ConfigError } from './errors'

/** One 32-byte key, or several to rotate: the first encrypts, all decrypt. */
export type EncryptionKeyInput = string | Uint8Array | ReadonlyArray<string | Uint8Array>

interface Key {
  kid: string
  bytes: Uint8Array
}

let jose: Promise<typeof import('./jose')> | undefined
// Loaded on the first store read or write, so memory-only providers never load it.
const loadJose = () => {
  jose ??= import('./jose')
  return jose
}

const HEADER = 'ts.key'

function decodeKey(input: string | Uint8Array, index: number): Uint8Array {
  const where = index === 0 ? '`encryptionKey`' : `\`encryptionKey[${index}]\``
  let bytes: Uint8Array
  if (input instanceof Uint8Array) bytes = input
  else if (typeof input === 'string') {
    const text = input.trim()
    if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(text)) {
      throw new ConfigError(
        `Expected ${where} to be base64 or base64url of 32 bytes (e.g. \`openssl rand -base64 32\`)`,
      )
    }
    bytes = Buffer.from(text.replaceAll('-', '+').replaceAll('_', '/'), 'base64')
  } else {
    throw new ConfigError(
      `Expected ${where} to be a base64 string or a Uint8Array of 32 bytes, got ${typeof input}`,
    )
  }
  // The key's value is never part of a message.
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
      return { bytes, kid: createHash('sha256').update(bytes).digest('base64url').slice(0, 8) }
    })
  }

  async seal(plaintext: string, cacheKey: string): Promise<string> {
    const { CompactEncrypt } = await loadJose()
    const key = this.#keys[0]!
    return new CompactEncrypt(new TextEncoder().encode(plaintext))
      .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', kid: key.kid, [HEADER]: cacheKey })
      .encrypt(key.bytes)
  }

  async open(jwe: string, cacheKey: string): Promise<string | undefined> {
    const { compactDecrypt, decodeProtectedHeader } = await loadJose()
    let header: Record<string, unknown>
    try {
      header = decodeProtectedHeader(jwe) as Record<string, unknown>
    } catch {
      return undefined
    }
    if (header[HEADER] !== cacheKey || header.alg !== 'dir' || header.enc !== 'A256GCM') return undefined
    const byKid = this.#keys.filter((k) => k.kid === header.kid)
    for (const key of byKid.length ? byKid : this.#keys) {
      try {
        const { plaintext } = await compactDecrypt(jwe, key.bytes, {
          keyManagementAlgorithms: ['dir'],
          contentEncryptionAlgorithms: ['A256GCM'],
        })
        return new TextDecoder().decode(plaintext)
      } catch {
        // Try the next key: rotation means older entries may be sealed with a later key in the list.
      }
    }
    return undefined
  }
}
