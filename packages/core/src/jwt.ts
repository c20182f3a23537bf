// Only the payload of a JWS compact token is read, never verified: the token came straight from
// the token endpoint over TLS, and all we want is its `exp`. Anything that does not parse is an
// opaque token, which is normal (Cognito and Auth0 send JWTs, many servers do not).

const SEGMENT = /^[A-Za-z0-9_-]+$/

/** A base64url JSON object (a JWS or JWE header or payload), or undefined. */
export function decodeSegment(segment: string): Record<string, unknown> | undefined {
  if (!SEGMENT.test(segment)) return undefined
  try {
    const value: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'))
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined
  } catch {
    return undefined
  }
}

/**
 * The claims of a JWS compact token (`header.payload.signature`), or `undefined` when the token
 * is not one (opaque tokens, JWE, garbage). The signature is not checked.
 *
 * @example
 * ```ts
 * decodeJwtPayload(tokenSet.accessToken)?.exp // e.g. 1767225600, or undefined for an opaque token
 * ```
 */
export function decodeJwtPayload(token: string): Record<string, unknown> | undefined {
  const parts = token.split('.')
  if (parts.length !== 3 || !parts[0] || !parts[1]) return undefined
  const header = decodeSegment(parts[0])
  if (!header || typeof header.alg !== 'string') return undefined
  return decodeSegment(parts[1])
}

/**
 * The JWT `exp` claim in epoch milliseconds, or `undefined` for an opaque token or a JWT
 * without a numeric `exp`.
 *
 * @example
 * ```ts
 * const exp = jwtExpiresAt(tokenSet.accessToken) // 1767225600000
 * ```
 */
export function jwtExpiresAt(token: string): number | undefined {
  const exp = decodeJwtPayload(token)?.exp
  return typeof exp === 'number' && Number.isFinite(exp) ? exp * 1000 : undefined
}
