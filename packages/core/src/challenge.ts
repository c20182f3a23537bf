// The rules both adapters (@tokenstash/axios, @tokenstash/fetch) apply to a 401: does it blame the
// token, and may the request be sent again.
//
// RFC 9110 §11.6.1: challenges are `scheme [ token68 / #auth-param ]`, and auth-params are
// `name = token / quoted-string`. Read in one pass so that commas and `=` inside quoted values,
// and the parameters of other schemes, are never mistaken for the Bearer challenge's own.
import { ConfigError } from './errors'

const SCHEME = /[\s,]*([A-Za-z][\w!#$%&'*+.^`|~-]*)(?=[\s,]|$)/y
const PARAM = /[\s,]*([\w!#$%&'*+.^`|~-]+)[ \t]*=[ \t]*("(?:[^"\\]|\\.)*"|[^\s,"]*)[ \t]*(?=,|$)/y
const TOKEN68 = /\s+[\w\-.~+/]+=*[ \t]*(?=,|$)/y

/**
 * What a `WWW-Authenticate: Bearer ...` challenge says about why a request was refused.
 *
 * @example
 * ```ts
 * if (bearerChallenge(res.headers['www-authenticate'])?.error === 'insufficient_scope') askForScope()
 * ```
 */
export interface BearerChallenge {
  /** RFC 6750 `error`, e.g. `invalid_token` or `insufficient_scope`; absent when the server gave none. */
  error?: string
}

function challenges(text: string): Array<{ scheme: string; params: Map<string, string> }> {
  const out: Array<{ scheme: string; params: Map<string, string> }> = []
  let at = 0
  while (at < text.length) {
    SCHEME.lastIndex = at
    const scheme = SCHEME.exec(text)
    if (!scheme?.[1]) break
    at = SCHEME.lastIndex
    const params = new Map<string, string>()
    for (;;) {
      PARAM.lastIndex = at
      const param = PARAM.exec(text)
      if (!param?.[1]) break
      const raw = param[2] ?? ''
      params.set(param[1].toLowerCase(), raw.startsWith('"') ? raw.slice(1, -1).replace(/\\(.)/g, '$1') : raw)
      at = PARAM.lastIndex
    }
    if (params.size === 0) {
      TOKEN68.lastIndex = at
      if (TOKEN68.exec(text)) at = TOKEN68.lastIndex
    }
    out.push({ scheme: scheme[1].toLowerCase(), params })
  }
  return out
}

/**
 * The Bearer challenge of a `WWW-Authenticate` header (one string or several lines), if it has one.
 *
 * @example
 * ```ts
 * bearerChallenge('Bearer realm="api", error="insufficient_scope", scope="orders:write"')
 * // { error: 'insufficient_scope' }
 * ```
 */
export function bearerChallenge(header: unknown): BearerChallenge | undefined {
  const text = Array.isArray(header) ? header.join(', ') : typeof header === 'string' ? header : ''
  const bearer = challenges(text).find((c) => c.scheme === 'bearer')
  if (!bearer) return undefined
  const error = bearer.params.get('error')
  return error === undefined ? {} : { error }
}

/**
 * Whether a 401 blames the token that was sent, so that invalidating it and trying the next one
 * can help. A 401 with no challenge is taken as a token rejection (many gateways send none); a Bearer
 * challenge counts unless its `error` names another cause (`insufficient_scope`, `invalid_request`);
 * a 401 that only offers other schemes (Basic, DPoP) is not about a bearer token at all.
 *
 * `headers` may be a Fetch API `Headers`, axios headers or a plain object.
 *
 * @example
 * ```ts
 * const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } })
 * if (isTokenRejection(res)) await provider.invalidate(token)
 * ```
 */
export function isTokenRejection(response: { status?: number; headers?: unknown } | undefined): boolean {
  if (response?.status !== 401) return false
  const header = readHeader(response.headers, 'www-authenticate')
  if (header === undefined || header === '') return true
  const bearer = bearerChallenge(header)
  if (!bearer) return false
  return bearer.error === undefined || bearer.error === 'invalid_token'
}

function readHeader(headers: unknown, name: string): unknown {
  if (!headers || typeof headers !== 'object') return undefined
  const h = headers as { get?: (n: string) => unknown } & Record<string, unknown>
  if (typeof h.get === 'function') return h.get(name) ?? undefined
  const key = Object.keys(h).find((k) => k.toLowerCase() === name)
  return key === undefined ? undefined : h[key]
}

/**
 * The methods RFC 9110 §9.2.2 defines as idempotent: sending one again after a 401 or a network
 * error does no harm. The adapters replay only these by default.
 *
 * @example
 * ```ts
 * IDEMPOTENT_METHODS.includes('PUT') // true
 * ```
 */
export const IDEMPOTENT_METHODS: readonly string[] = Object.freeze([
  'GET',
  'HEAD',
  'OPTIONS',
  'PUT',
  'DELETE',
  'TRACE',
])

/**
 * Whether a request with this method may be sent again (see {@link IDEMPOTENT_METHODS}); case-insensitive.
 *
 * @example
 * ```ts
 * isIdempotentMethod('get')  // true
 * isIdempotentMethod('POST') // false
 * ```
 */
export function isIdempotentMethod(method: string): boolean {
  return IDEMPOTENT_METHODS.includes(method.toUpperCase())
}

function kind(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  return typeof value === 'object' ? 'an object' : typeof value === 'function' ? 'a function' : String(value)
}

/**
 * The adapters' `retryOn401` option as a test of a request's method: `true` or left out replays
 * the idempotent methods, `false` none, `{ methods }` the methods named (case-insensitive).
 * Anything else throws a ConfigError naming the option.
 *
 * @example
 * ```ts
 * const replays = replayOn401({ methods: ['GET', 'POST'] })
 * replays('post') // true
 * ```
 */
export function replayOn401(option: unknown): (method: string) => boolean {
  if (option === undefined || option === true) return isIdempotentMethod
  if (option === false) return () => false
  const methods = (option as { methods?: unknown } | null)?.methods
  if (
    typeof option !== 'object' ||
    !Array.isArray(methods) ||
    methods.some((m) => typeof m !== 'string' || m === '')
  ) {
    throw new ConfigError(
      `Expected \`retryOn401\` to be a boolean or { methods: string[] }, got ${kind(option)}`,
    )
  }
  const named = new Set(methods.map((m: string) => m.toUpperCase()))
  return (method) => named.has(method.toUpperCase())
}
