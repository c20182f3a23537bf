import { createHmac } from 'node:crypto'

// What a client sent, reduced to what decides the answer: whether it may be cached, and under
// which key. Nothing here throws: every malformed input becomes a `refusal` with an OAuth error.

/** A request as any front end (node:http, Lambda events) hands it over. */
export interface IncomingTokenRequest {
  method: string
  path: string
  /** The raw query string, without `?`. */
  query: string
  /** Lower-case header names. */
  headers: Record<string, string | undefined>
  /** The body, or `undefined` when it was larger than `maxBodyBytes`. */
  body: Buffer | undefined
}

export interface Refusal {
  kind: 'refuse'
  status: number
  error: string
  description: string
  headers?: Record<string, string>
}

export interface Cacheable {
  kind: 'cache'
  /** HMAC of the upstream, the credentials and the normalised parameters. */
  key: string
  /** Strings that must never appear in an error message (the secret and its encodings). */
  secrets: string[]
}

export type Classified = Refusal | Cacheable | { kind: 'forward'; reason: string }

const FORM = 'application/x-www-form-urlencoded'
const JSON_TYPE = 'application/json'

function refuse(
  status: number,
  error: string,
  description: string,
  headers?: Record<string, string>,
): Refusal {
  return { kind: 'refuse', status, error, description, ...(headers ? { headers } : {}) }
}

/** `a=1&b=2` into pairs; `undefined` when a name or value is not valid percent-encoding (UTF-8). */
function parseForm(text: string): [string, string][] | undefined {
  const pairs: [string, string][] = []
  for (const part of text.split('&')) {
    if (part === '') continue
    const eq = part.indexOf('=')
    const [rawName, rawValue] = eq < 0 ? [part, ''] : [part.slice(0, eq), part.slice(eq + 1)]
    try {
      pairs.push([
        decodeURIComponent(rawName.replace(/\+/g, ' ')),
        decodeURIComponent(rawValue.replace(/\+/g, ' ')),
      ])
    } catch {
      return undefined
    }
  }
  return pairs
}

/**
 * JSON members as pairs whose value is its JSON text (`1` and `"1"` stay apart); a string when the
 * body is not a JSON object, `undefined` when a member is not a string, number or boolean (an
 * upstream may read those in more than one way: such requests are not cached).
 */
function parseJson(text: string): [string, string][] | string | undefined {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    return 'The body is not valid JSON'
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    return 'The JSON body must be an object'
  const pairs: [string, string][] = []
  for (const [name, value] of Object.entries(json)) {
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') return undefined
    pairs.push([name, JSON.stringify(value)])
  }
  return pairs
}

/** RFC 6749 §3.3: scope tokens are NQCHARs, separated by one space (%x20) each. */
const SCOPE = /^[\x21\x23-\x5b\x5d-\x7e]+(?: [\x21\x23-\x5b\x5d-\x7e]+)*$/

/**
 * The scope as a set, when it is a well-formed RFC 6749 scope without repeated tokens: order does
 * not change which token comes back. Anything else (tabs, other Unicode spaces, doubled spaces,
 * repeats, characters outside NQCHAR) is `undefined` and keyed as sent: the upstream decides.
 */
export function normaliseScope(scope: string): string | undefined {
  if (!SCOPE.test(scope)) return undefined
  const tokens = scope.split(' ')
  const set = new Set(tokens)
  return set.size === tokens.length ? [...set].sort().join(' ') : undefined
}

/** Whether the query string carries any parameter (`?` alone, or `?&`, carries none). */
function hasQueryParameters(query: string): boolean {
  return query.split('&').some((part) => part !== '')
}

/**
 * Decides what to do with a token request: refuse it (with the OAuth error to answer), forward it
 * untouched (not cacheable), or serve it from the cache under an HMAC key.
 *
 * The key is made of what the upstream reads, in the form it compares: the form body's decoded
 * parameters (RFC 6749 servers, Cognito) or the JSON body's members (Auth0), the Authorization
 * header byte for byte, the body's format and the upstream. What an upstream might read in more than
 * one way is forwarded uncached, never keyed: parameters in the query string (RFC 6749 servers
 * ignore them, API Gateway mappings move them into the body), bodies that are not valid UTF-8
 * percent-encoding, charsets other than UTF-8, JSON members that are objects or arrays, a repeated
 * `grant_type`, and requests with both Basic and body credentials.
 */
export function classify(
  req: IncomingTokenRequest,
  options: { upstream: string; hmacKey: Buffer; otherGrants: 'forward' | 'refuse'; maxBodyBytes: number },
): Classified {
  if (req.method !== 'POST')
    return refuse(405, 'invalid_request', 'The token endpoint accepts POST only', { allow: 'POST' })
  if (req.body === undefined)
    return refuse(400, 'invalid_request', `The request body is larger than ${options.maxBodyBytes} bytes`)
  if (hasQueryParameters(req.query)) {
    return options.otherGrants === 'refuse'
      ? refuse(400, 'invalid_request', 'Send the token request parameters in the body, not the query string')
      : { kind: 'forward', reason: 'query' }
  }

  const [type = '', ...typeParams] = (req.headers['content-type'] ?? '').split(';')
  const contentType = type.trim().toLowerCase()
  const charset = typeParams
    .map((p) => p.trim().toLowerCase())
    .find((p) => p.startsWith('charset='))
    ?.slice(8)
    .replace(/"/g, '')
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8')
    return { kind: 'forward', reason: 'charset' }
  const text = req.body.toString('utf8')
  let body: [string, string][]
  let format: 'form' | 'json'
  if (contentType === FORM || (contentType === '' && text === '')) {
    const parsed = parseForm(text)
    if (!parsed) return { kind: 'forward', reason: 'encoding' }
    body = parsed
    format = 'form'
  } else if (contentType === JSON_TYPE || contentType.endsWith('+json')) {
    const parsed = parseJson(text)
    if (typeof parsed === 'string') return refuse(400, 'invalid_request', parsed)
    if (!parsed) return { kind: 'forward', reason: 'json-shape' }
    body = parsed
    format = 'json'
  } else {
    return refuse(400, 'invalid_request', `Expected content-type ${FORM} or ${JSON_TYPE}`)
  }
  const value = (raw: string) => (format === 'json' ? (JSON.parse(raw) as unknown) : raw)

  const grants = body.filter(([name]) => name === 'grant_type').map(([, v]) => value(v))
  if (grants.length === 0 || grants[0] === '') return refuse(400, 'invalid_request', 'Missing grant_type')
  if (grants.length > 1) return { kind: 'forward', reason: 'ambiguous' }
  if (grants[0] !== 'client_credentials') {
    return options.otherGrants === 'refuse'
      ? refuse(400, 'unsupported_grant_type', 'This proxy serves grant_type=client_credentials only')
      : { kind: 'forward', reason: 'grant' }
  }

  const authorization = req.headers.authorization
  const bodySecrets = body.filter(([name]) => name === 'client_secret').map(([, v]) => String(value(v)))
  // Two methods at once: whether the upstream refuses or picks one is its business, not the cache's.
  if (authorization !== undefined && bodySecrets.length > 0) return { kind: 'forward', reason: 'ambiguous' }
  // A client assertion is single-use (jti): every request is new, so none can be cached.
  if (body.some(([name]) => name === 'client_assertion')) return { kind: 'forward', reason: 'assertion' }
  // No credentials: the upstream answers what it answers, and that is not cached either.
  if (authorization === undefined && bodySecrets.length === 0) return { kind: 'forward', reason: 'anonymous' }

  const scopes = body.filter(([name]) => name === 'scope')
  const normalised = body
    .map(([name, v]): [string, string] => {
      if (name !== 'scope' || scopes.length !== 1) return [name, v]
      const raw = value(v)
      const set = typeof raw === 'string' ? normaliseScope(raw) : undefined
      return set === undefined ? [name, v] : ['scope set', set]
    })
    // A stable sort: repeated parameters keep their order, which an upstream may read.
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  // JSON keeps this unambiguous: no choice of values can make two different requests one string.
  const material = JSON.stringify([options.upstream, format, authorization ?? null, normalised])
  const key = createHmac('sha256', options.hmacKey).update(material).digest('base64url')

  const secrets: string[] = []
  for (const secret of bodySecrets) secrets.push(...encodings(secret))
  if (format === 'form')
    for (const part of text.split('&'))
      if (part.startsWith('client_secret=')) secrets.push(part.slice('client_secret='.length))
  if (authorization) {
    secrets.push(authorization)
    const [scheme, credentials] = authorization.trim().split(/\s+/, 2)
    if (credentials) {
      secrets.push(credentials)
      if (scheme?.toLowerCase() === 'basic') {
        const decoded = Buffer.from(credentials, 'base64').toString('utf8')
        const colon = decoded.indexOf(':')
        if (colon >= 0) {
          const secret = decoded.slice(colon + 1)
          secrets.push(secret, ...encodings(safeDecode(secret)))
        }
      }
    }
  }
  return { kind: 'cache', key, secrets: [...new Set(secrets)].filter((s) => s.length >= 4) }
}

/**
 * A secret in every form a client or an upstream may write it in: as is, percent-encoded with
 * `%20` or `+`, with upper- or lower-case hex, every character percent-encoded, JSON-escaped and
 * as the JSON escapes of non-ASCII characters.
 */
export function encodings(secret: string): string[] {
  const uri = encodeURIComponent(secret)
  const form = uri.replace(/%20/g, '+')
  const lower = (s: string) => s.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase())
  const every = [...Buffer.from(secret, 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('')
  const json = JSON.stringify(secret).slice(1, -1)
  const jsonAscii = json.replace(
    /[\u007f-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  )
  const forms = [secret, uri, form, lower(uri), lower(form), every, every.toUpperCase(), json, jsonAscii]
  return [...new Set(forms)]
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '))
  } catch {
    return text
  }
}
