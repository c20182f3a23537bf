import { KeyObject, randomUUID, type webcrypto } from 'node:crypto'
import type { JWK } from 'jose'
import { ConfigError } from '../errors'

// private_key_jwt (RFC 7523 §2.2): the client proves itself with a short-lived JWT signed by its
// private key. jose is imported on the first signature only, so a Lambda that serves tokens from
// memory never pays for loading it on a cold start.

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
  /** Resolves the key in the form jose signs with (a JWK is imported once). */
  load(): Promise<CryptoKey | KeyObject | Uint8Array>
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

const CryptoKeyClass = (globalThis as { CryptoKey?: abstract new () => unknown }).CryptoKey
const isCryptoKey = (value: unknown): value is CryptoKey =>
  typeof CryptoKeyClass === 'function' && value instanceof CryptoKeyClass

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
  let load: () => Promise<CryptoKey | KeyObject | Uint8Array>

  if (isCryptoKey(input)) {
    if (input.type !== 'private') fail(`a private key, got a ${input.type} CryptoKey`)
    if (!input.usages.includes('sign')) fail("a CryptoKey usable for 'sign'")
    alg = algOfCryptoKey(input)
    load = async () => input
  } else if (input instanceof KeyObject) {
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
    let imported: Promise<CryptoKey | Uint8Array> | undefined
    load = () => {
      imported ??= import('../jose')
        .then(({ importJWK }) => importJWK(jwk, alg))
        .catch((cause: unknown) => {
          imported = undefined
          throw new ConfigError(
            `Could not import \`privateKey\` (JWK, alg ${alg}): ${(cause as Error)?.message}`,
            { cause },
          )
        })
      return imported
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
  const [{ SignJWT }, material] = await Promise.all([import('../jose'), key.load()])
  const iat = Math.floor(claims.now / 1000)
  try {
    return await new SignJWT({})
      .setProtectedHeader(
        key.kid === undefined ? { alg: key.alg, typ: 'JWT' } : { alg: key.alg, kid: key.kid, typ: 'JWT' },
      )
      .setIssuer(claims.clientId)
      .setSubject(claims.clientId)
      .setAudience(claims.audience)
      .setJti(randomUUID())
      .setIssuedAt(iat)
      .setExpirationTime(iat + ASSERTION_LIFETIME_SECONDS)
      .sign(material as Parameters<InstanceType<typeof SignJWT>['sign']>[0])
  } catch (cause) {
    // jose names the mismatch (e.g. alg vs key type); it never prints key material.
    throw new ConfigError(
      `Could not sign the client assertion with \`privateKey\` (alg ${key.alg}): ${(cause as Error)?.message}`,
      {
        cause,
      },
    )
  }
}
