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
/** Parameters that may be sent more than once (RFC 8707 resource indicators). */
const MULTI = new Set(['resource'])

function refuse(
  status: number,
  error: string,
  description: string,
  headers?: Record<string, string>,
): Refusal {
  return { kind: 'refuse', status, error, description, ...(headers ? { headers } : {}) }
}

/** `a=1&b=2` into pairs; `undefined` when a name or value is not valid percent-encoding. */
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

function parseJson(text: string): [string, string][] | string {
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
    if (typeof value === 'string') pairs.push([name, value])
    else if (typeof value === 'number' || typeof value === 'boolean') pairs.push([name, String(value)])
    else if (Array.isArray(value) && MULTI.has(name) && value.every((v) => typeof v === 'string'))
      for (const v of value) pairs.push([name, v])
    else return `Parameter ${JSON.stringify(name.slice(0, 40))} must be a string`
  }
  return pairs
}

/** The scope as a set: order, duplicates and extra spaces do not change which token comes back. */
export function normaliseScope(scope: string): string {
  return [...new Set(scope.split(/\s+/).filter(Boolean))].sort().join(' ')
}

/**
 * Decides what to do with a token request: refuse it (with the OAuth error to answer), forward it
 * untouched (not cacheable), or serve it from the cache under an HMAC key.
 */
export function classify(
  req: IncomingTokenRequest,
  options: { upstream: string; hmacKey: Buffer; otherGrants: 'forward' | 'refuse'; maxBodyBytes: number },
): Classified {
  if (req.method !== 'POST')
    return refuse(405, 'invalid_request', 'The token endpoint accepts POST only', { allow: 'POST' })
  if (req.body === undefined)
    return refuse(400, 'invalid_request', `The request body is larger than ${options.maxBodyBytes} bytes`)

  const contentType = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase()
  const text = req.body.toString('utf8')
  let body: [string, string][]
  let format: 'form' | 'json'
  if (contentType === FORM || (contentType === '' && text === '')) {
    const parsed = parseForm(text)
    if (!parsed) return refuse(400, 'invalid_request', 'The form body is not valid percent-encoding')
    body = parsed
    format = 'form'
  } else if (contentType === JSON_TYPE || contentType.endsWith('+json')) {
    const parsed = parseJson(text)
    if (typeof parsed === 'string') return refuse(400, 'invalid_request', parsed)
    body = parsed
    format = 'json'
  } else {
    return refuse(400, 'invalid_request', `Expected content-type ${FORM} or ${JSON_TYPE}`)
  }
  const query = parseForm(req.query)
  if (!query) return refuse(400, 'invalid_request', 'The query string is not valid percent-encoding')

  const params = new Map<string, string[]>()
  for (const [name, value] of [...body, ...query]) {
    const values = params.get(name) ?? []
    if (values.length > 0 && !MULTI.has(name))
      return refuse(400, 'invalid_request', `Parameter ${JSON.stringify(name.slice(0, 40))} is repeated`)
    values.push(value)
    params.set(name, values)
  }

  const grant = params.get('grant_type')?.[0]
  if (grant === undefined || grant === '') return refuse(400, 'invalid_request', 'Missing grant_type')
  if (grant !== 'client_credentials') {
    return options.otherGrants === 'refuse'
      ? refuse(400, 'unsupported_grant_type', 'This proxy serves grant_type=client_credentials only')
      : { kind: 'forward', reason: 'grant' }
  }

  const authorization = req.headers.authorization?.trim()
  const bodySecret = params.get('client_secret')?.[0]
  if (authorization && bodySecret !== undefined)
    return refuse(400, 'invalid_request', 'The client authenticated with more than one method')
  // A client assertion is single-use (jti): every request is new, so none can be cached.
  if (params.has('client_assertion')) return { kind: 'forward', reason: 'assertion' }
  // No credentials: the upstream answers what it answers, and that is not cached either.
  if (!authorization && bodySecret === undefined) return { kind: 'forward', reason: 'anonymous' }

  const normalised = [...params]
    .filter(([name]) => name !== 'grant_type')
    .map(([name, values]): [string, string[]] => [
      name,
      name === 'scope' ? [normaliseScope(values[0]!)] : [...values].sort(),
    ])
    .filter(([name, values]) => !(name === 'scope' && values[0] === ''))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  // JSON keeps this unambiguous: no choice of values can make two different requests one string.
  const material = JSON.stringify([options.upstream, format, authorization ?? null, normalised])
  const key = createHmac('sha256', options.hmacKey).update(material).digest('base64url')

  const secrets: string[] = []
  if (bodySecret) secrets.push(bodySecret, encodeURIComponent(bodySecret))
  if (authorization) {
    secrets.push(authorization)
    const [scheme, credentials] = authorization.split(/\s+/, 2)
    if (credentials) {
      secrets.push(credentials)
      if (scheme?.toLowerCase() === 'basic') {
        const decoded = Buffer.from(credentials, 'base64').toString('utf8')
        const colon = decoded.indexOf(':')
        if (colon >= 0) {
          const secret = decoded.slice(colon + 1)
          if (secret) secrets.push(secret, safeDecode(secret))
        }
      }
    }
  }
  return { kind: 'cache', key, secrets: secrets.filter((s) => s.length >= 4) }
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '))
  } catch {
    return text
  }
}
