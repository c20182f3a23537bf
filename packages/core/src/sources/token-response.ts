import { TokenResponseError } from '../errors'
import { decodeJwtPayload } from '../jwt'
import type { TokenSet } from '../types'

// A 2xx answer is only a token if every field we rely on is sane. Each way it can be wrong has
// its own `reason`, and no message ever repeats the body: it may hold a token.

/** More than a year is not a lifetime, it is a bug (or seconds sent as milliseconds). */
export const MAX_EXPIRES_IN_SECONDS = 365 * 24 * 3600

/**
 * What {@link parseTokenResponse} needs to know about the answer besides its body.
 *
 * @example
 * ```ts
 * const ctx: TokenResponseContext = { endpoint, status: 200, contentType, issuedAt, now: Date.now(), tokenTypes: ['Bearer'] }
 * ```
 */
export interface TokenResponseContext {
  endpoint: string
  status: number
  contentType: string | null
  /** When the request was sent, epoch ms. */
  issuedAt: number
  /** When the response arrived, epoch ms (an already expired JWT is refused). */
  now: number
  /** Accepted `token_type` values, compared case-insensitively. */
  tokenTypes: readonly string[]
}

const SAFE_WORD = /^[A-Za-z0-9_.:-]{1,40}$/

/** A value from the body, shown only when it cannot be a token. */
function describe(value: unknown): string {
  if (value === null) return 'null'
  if (typeof value === 'number' || typeof value === 'boolean') return String(value)
  if (typeof value === 'string') return SAFE_WORD.test(value) ? JSON.stringify(value) : 'a string'
  return Array.isArray(value) ? 'an array' : typeof value === 'object' ? 'an object' : typeof value
}

function parseExpiresIn(value: unknown): number | undefined {
  if (typeof value === 'number') return value
  if (typeof value === 'string' && /^\s*\d+(\.\d+)?\s*$/.test(value)) return Number(value)
  return undefined
}

/**
 * Turns the body of a 2xx token response into a {@link TokenSet}, or throws a
 * {@link TokenResponseError} saying why it is not usable. Never throws anything else.
 *
 * @example
 * ```ts
 * const set = parseTokenResponse('{"access_token":"…","token_type":"Bearer","expires_in":3600}', ctx)
 * ```
 */
export function parseTokenResponse(body: string, ctx: TokenResponseContext): TokenSet {
  const fail = (reason: string, what: string): never => {
    throw new TokenResponseError(`Token endpoint ${ctx.endpoint} answered ${ctx.status} ${what}`, {
      endpoint: ctx.endpoint,
      status: ctx.status,
      reason,
    })
  }

  let json: unknown
  try {
    json = JSON.parse(body)
  } catch {
    const type = ctx.contentType ? `content-type ${ctx.contentType.split(';')[0]!.trim()}` : 'no content-type'
    return fail(
      'not_json',
      `with a body that is not JSON (${type}). Check \`tokenEndpoint\`: it likely points at a login page, a proxy or a gateway instead of the OAuth2 token endpoint.`,
    )
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    return fail(
      'not_json',
      `with JSON that is not an object (${describe(json)}); expected an OAuth2 token response.`,
    )
  }
  const data = json as Record<string, unknown>

  const accessToken = data.access_token
  if (typeof accessToken !== 'string' || accessToken === '') {
    const oauthError =
      typeof data.error === 'string' && SAFE_WORD.test(data.error) ? ` and error ${data.error}` : ''
    return fail(
      'missing_access_token',
      `without an \`access_token\`${oauthError} (got ${describe(accessToken)}). Check that \`tokenEndpoint\` is the OAuth2 token endpoint.`,
    )
  }

  // RFC 6749 makes token_type required, yet a few servers leave it out; such a token is a bearer token.
  const tokenType = data.token_type === undefined ? 'Bearer' : data.token_type
  if (
    typeof tokenType !== 'string' ||
    !ctx.tokenTypes.some((t) => t.toLowerCase() === tokenType.toLowerCase())
  ) {
    return fail(
      'bad_token_type',
      `with token_type ${data.token_type === undefined ? 'missing' : describe(tokenType)}, expected ${ctx.tokenTypes.map((t) => `'${t}'`).join(' or ')}. Pass \`tokenType\` if this type is intended.`,
    )
  }

  const claims = decodeJwtPayload(accessToken)
  const exp = claims?.exp
  const jwtExpiresAt = typeof exp === 'number' && Number.isFinite(exp) ? exp * 1000 : undefined
  if (jwtExpiresAt !== undefined && jwtExpiresAt <= ctx.now) {
    return fail(
      'expired_jwt',
      `with a JWT that expired ${Math.round((ctx.now - jwtExpiresAt) / 1000)} s ago. Check the clock of this host and of the identity provider.`,
    )
  }

  let expiresAt: number
  if (data.expires_in === undefined || data.expires_in === null) {
    if (jwtExpiresAt !== undefined && jwtExpiresAt - ctx.issuedAt <= MAX_EXPIRES_IN_SECONDS * 1000) {
      expiresAt = jwtExpiresAt
    } else if (claims) {
      return fail(
        'no_expiry',
        `without \`expires_in\` and with a JWT whose \`exp\` is ${jwtExpiresAt === undefined ? 'missing' : 'more than a year away'}, so its lifetime is unknown.`,
      )
    } else {
      return fail('bad_expires_in', 'without `expires_in` for an opaque token, so its lifetime is unknown.')
    }
  } else {
    const seconds = parseExpiresIn(data.expires_in)
    if (
      seconds === undefined ||
      !Number.isFinite(seconds) ||
      seconds < 1 ||
      seconds > MAX_EXPIRES_IN_SECONDS
    ) {
      return fail(
        'bad_expires_in',
        `with expires_in ${describe(data.expires_in)}; expected a number of seconds in [1, ${MAX_EXPIRES_IN_SECONDS}].`,
      )
    }
    expiresAt = ctx.issuedAt + seconds * 1000
    if (jwtExpiresAt !== undefined && jwtExpiresAt < expiresAt) expiresAt = jwtExpiresAt
  }

  const set: TokenSet = { accessToken, tokenType, issuedAt: ctx.issuedAt, expiresAt }
  if (typeof data.scope === 'string') set.scope = data.scope
  return set
}
