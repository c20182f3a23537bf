import type { KeyObject, SignKeyObjectInput, webcrypto } from 'node:crypto'
import { ConfigError } from '../errors'
import { nodeCrypto } from '../node-crypto'

// private_key_jwt (RFC 7523 §2.2): the client proves itself with a short-lived JWT signed by its
// private key. A JWS compact signature is a few lines of node:crypto, so no JOSE library is
// loaded (a Lambda bundle used to carry 15 KB of jose for this alone).

/** The members of a private JWK this module reads; the rest are passed to node:crypto as they are. */
export interface JWK {
  kty?: string
  crv?: string
  alg?: string
  kid?: string
  d?: string
  [member: string]: unknown
}

/** The client assertion type of RFC 7523. */
export const JWT_BEARER_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'

/** An assertion only has to survive the trip to the token endpoint. */
const ASSERTION_LIFETIME_SECONDS = 60

const SIGNING_ALGS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
] as const

const CURVE_ALG: Record<string, string> = {
  'P-256': 'ES256',
  'P-384': 'ES384',
  'P-521': 'ES512',
  prime256v1: 'ES256',
  secp384r1: 'ES384',
  secp521r1: 'ES512',
}

type CryptoKey = webcrypto.CryptoKey

/**
 * What `privateKey` accepts: a private CryptoKey, a private KeyObject or a private JWK (with `d`).
 * The JWS `alg` comes from the JWK's `alg` or the key type (RSA → RS256, P-256 → ES256,
 * P-384 → ES384, P-521 → ES512, Ed25519 → EdDSA).
 *
 * @example
 * ```ts
 * const privateKey: PrivateKeyInput = createPrivateKey(process.env.CLIENT_KEY_PEM!)
 * ```
 */
export type PrivateKeyInput = CryptoKey | KeyObject | JWK

export interface SigningKey {
  alg: string
  kid?: string
  /** Resolves the key as a KeyObject (a JWK or CryptoKey is converted once). */
  load(): Promise<KeyObject>
}

function fail(what: string): never {
  throw new ConfigError(`Expected \`privateKey\` to be ${what}`)
}

function hashBits(algorithm: webcrypto.KeyAlgorithm): string {
  const hash = (algorithm as webcrypto.RsaHashedKeyAlgorithm).hash
  const name = typeof hash === 'string' ? hash : hash?.name
  return name?.replace('SHA-', '') ?? '256'
}

function algOfCryptoKey(key: CryptoKey): string | undefined {
  const { name } = key.algorithm
  if (name === 'RSASSA-PKCS1-v1_5') return `RS${hashBits(key.algorithm)}`
  if (name === 'RSA-PSS') return `PS${hashBits(key.algorithm)}`
  if (name === 'ECDSA') return CURVE_ALG[(key.algorithm as webcrypto.EcKeyAlgorithm).namedCurve]
  if (name === 'Ed25519') return 'EdDSA'
  return undefined
}

function algOfKeyObject(key: KeyObject): string | undefined {
  const type = key.asymmetricKeyType
  if (type === 'rsa') return 'RS256'
  if (type === 'rsa-pss') return 'PS256'
  if (type === 'ec') return CURVE_ALG[key.asymmetricKeyDetails?.namedCurve ?? '']
  if (type === 'ed25519') return 'EdDSA'
  return undefined
}

function algOfJwk(jwk: JWK): string | undefined {
  if (jwk.kty === 'RSA') return 'RS256'
  if (jwk.kty === 'EC') return CURVE_ALG[jwk.crv ?? '']
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') return 'EdDSA'
  return undefined
}

// Looked up when a key is checked, not at import: the global's getter loads Node's WebCrypto
// (a millisecond or two of every cold start, with or without private_key_jwt).
function isCryptoKey(value: unknown): value is CryptoKey {
  const CryptoKeyClass = (globalThis as { CryptoKey?: abstract new () => unknown }).CryptoKey
  return typeof CryptoKeyClass === 'function' && value instanceof CryptoKeyClass
}

/**
 * Checks a private key when it is passed and works out its JWS `alg` and `kid`.
 *
 * @example
 * ```ts
 * const key = signingKey(jwk, undefined) // { alg: 'ES256', kid: jwk.kid, load }
 * ```
 */
export function signingKey(input: unknown, keyId: string | undefined): SigningKey {
  let alg: string | undefined
  let kid = keyId
  let load: () => Promise<KeyObject>

  if (isCryptoKey(input)) {
    if (input.type !== 'private') fail(`a private key, got a ${input.type} CryptoKey`)
    if (!input.usages.includes('sign')) fail("a CryptoKey usable for 'sign'")
    alg = algOfCryptoKey(input)
    load = async () => nodeCrypto().KeyObject.from(input)
  } else if (input instanceof nodeCrypto().KeyObject) {
    if (input.type !== 'private') fail(`a private key, got a ${input.type} KeyObject`)
    alg = algOfKeyObject(input)
    load = async () => input
  } else if (typeof input === 'object' && input !== null && !Array.isArray(input) && 'kty' in input) {
    const jwk = input as JWK
    if (jwk.kty === 'oct') fail('an asymmetric key (RSA, EC or OKP); client_secret_jwt is not supported')
    if (typeof jwk.d !== 'string') fail('a private JWK (with `d`), got a public one')
    if (jwk.alg !== undefined && !(SIGNING_ALGS as readonly string[]).includes(jwk.alg)) {
      fail(
        `a JWK with a signing \`alg\` (${SIGNING_ALGS.join(', ')}), got ${JSON.stringify(String(jwk.alg).slice(0, 20))}`,
      )
    }
    alg = jwk.alg ?? algOfJwk(jwk)
    kid ??= typeof jwk.kid === 'string' ? jwk.kid : undefined
    load = async () => {
      try {
        return nodeCrypto().createPrivateKey({ key: jwk as never, format: 'jwk' })
      } catch (cause) {
        // node:crypto names what is wrong with the JWK; it never prints key material.
        throw new ConfigError(
          `Could not import \`privateKey\` (JWK, alg ${alg}): ${(cause as Error)?.message}`,
          { cause },
        )
      }
    }
  } else {
    fail('a CryptoKey, a KeyObject or a JWK')
  }

  if (!alg) fail('an RSA, EC (P-256, P-384, P-521) or Ed25519 key')
  return { alg, kid, load }
}

/**
 * Signs a fresh client assertion for one token request.
 *
 * @example
 * ```ts
 * const assertion = await signClientAssertion(key, { clientId, audience: tokenEndpoint, now: Date.now() })
 * ```
 */
export async function signClientAssertion(
  key: SigningKey,
  claims: { clientId: string; audience: string; now: number },
): Promise<string> {
  const material = await key.load()
  const iat = Math.floor(claims.now / 1000)
  const header =
    key.kid === undefined ? { alg: key.alg, typ: 'JWT' } : { alg: key.alg, kid: key.kid, typ: 'JWT' }
  const payload = {
    iss: claims.clientId,
    sub: claims.clientId,
    aud: claims.audience,
    jti: nodeCrypto().randomUUID(),
    iat,
    exp: iat + ASSERTION_LIFETIME_SECONDS,
  }
  const input = `${segment(header)}.${segment(payload)}`
  try {
    checkKeyFits(key.alg, material)
    const signature = nodeCrypto().sign(digestOf(key.alg), Buffer.from(input), signOptions(key.alg, material))
    return `${input}.${signature.toString('base64url')}`
  } catch (cause) {
    // The mismatch is named (alg vs key type or curve); key material is never printed.
    throw new ConfigError(
      `Could not sign the client assertion with \`privateKey\` (alg ${key.alg}): ${(cause as Error)?.message}`,
      { cause },
    )
  }
}

function segment(value: object): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url')
}

/** SHA-2 size of an RS/PS/ES alg; EdDSA hashes inside the signature scheme (null). */
function digestOf(alg: string): string | null {
  return alg === 'EdDSA' || alg === 'Ed25519' ? null : `sha${alg.slice(2)}`
}

function signOptions(alg: string, key: KeyObject): KeyObject | SignKeyObjectInput {
  // RFC 7518 §3.5: RSASSA-PSS with MGF1 and a salt as long as the hash.
  if (alg.startsWith('PS'))
    return {
      key,
      padding: nodeCrypto().constants.RSA_PKCS1_PSS_PADDING,
      saltLength: Number(alg.slice(2)) / 8,
    }
  // RFC 7518 §3.4: ECDSA signatures are R || S, not DER.
  if (alg.startsWith('ES')) return { key, dsaEncoding: 'ieee-p1363' }
  return key
}

/** node:crypto would sign with any key it is given; a JWS alg binds the key type (and curve). */
function checkKeyFits(alg: string, key: KeyObject): void {
  const type = key.asymmetricKeyType
  const curve = key.asymmetricKeyDetails?.namedCurve
  const fits = alg.startsWith('RS')
    ? type === 'rsa'
    : alg.startsWith('PS')
      ? type === 'rsa' || type === 'rsa-pss'
      : alg.startsWith('ES')
        ? type === 'ec' && CURVE_ALG[curve ?? ''] === alg
        : type === 'ed25519'
  if (!fits) {
    throw new Error(`alg ${alg} does not fit a ${type}${curve ? ` (${curve})` : ''} key`)
  }
}
