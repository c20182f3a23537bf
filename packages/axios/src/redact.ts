/**
 * What replaces a credential in an error.
 *
 * @example
 * ```ts
 * expect(err.config.headers.Authorization).toBe(REDACTED)
 * ```
 */
export const REDACTED = '[REDACTED]'

const AUTH_KEY = /^(?:proxy-)?authorization$/i
// A raw header block, as node:http keeps it in ClientRequest#_header.
const AUTH_LINE = /^((?:proxy-)?authorization[ \t]*:[ \t]*)[^\r\n]*/gim
// Agents and parsers lead to other requests still in flight: rewriting their headers would break
// them, and they are not part of what this error describes. Bodies are the server's, and can be large.
const SKIP_KEYS = new Set([
  'agent',
  'agents',
  'httpAgent',
  'httpsAgent',
  'parser',
  '_httpMessage',
  'server',
  '_server',
  'data',
])
const SOCKET_KEYS = new Set(['socket', 'connection', 'client', 'originalSocket'])
// nock 14 (@mswjs/interceptors) wraps a socket in another on each keep-alive reuse, so the request
// that socket carries can lie any number of links down; a link does not count towards the depth.
const CHAIN_KEYS = new Set(['originalSocket'])
const MAX_DEPTH = 8

interface Walk {
  secrets: readonly string[]
  /** The shallowest depth each object was walked at: met again higher up, it is walked again, deeper. */
  seen: WeakMap<object, number>
}

function cleanString(text: string, key: PropertyKey | undefined, walk: Walk): string {
  if (typeof key === 'string' && AUTH_KEY.test(key)) return REDACTED
  let out = text
  for (const secret of walk.secrets) if (out.includes(secret)) out = out.split(secret).join(REDACTED)
  return out.replace(AUTH_LINE, `$1${REDACTED}`)
}

function visit(value: object, depth: number, walk: Walk): void {
  if (depth > MAX_DEPTH || ArrayBuffer.isView(value)) return
  const before = walk.seen.get(value)
  if (before !== undefined && before <= depth) return
  walk.seen.set(value, depth)
  // node:http keeps outgoing headers as { authorization: ['Authorization', 'Bearer …'] }.
  if (Array.isArray(value) && value.length === 2 && typeof value[0] === 'string' && AUTH_KEY.test(value[0])) {
    if (typeof value[1] === 'string') value[1] = REDACTED
  }
  // Fetch API Headers (the fetch adapter, mock sockets) keep their entries out of reach of reflection.
  if (Object.prototype.toString.call(value) === '[object Headers]') {
    const headers = value as Headers
    try {
      for (const name of ['authorization', 'proxy-authorization'])
        if (headers.has(name)) headers.set(name, REDACTED)
    } catch {
      // Immutable headers (a Response's) hold no request credential.
    }
  }
  // A Fetch API Request keeps its Headers behind a getter, which is read here only: on Node 24, nock's
  // mock socket (@mswjs/interceptors) holds the outgoing request as one.
  if (Object.prototype.toString.call(value) === '[object Request]') {
    try {
      visit((value as Request).headers, depth + 1, walk)
    } catch {
      // Not a real Request after all.
    }
  }
  for (const key of Reflect.ownKeys(value)) {
    if (typeof key === 'string' && SKIP_KEYS.has(key)) continue
    const descriptor = Object.getOwnPropertyDescriptor(value, key)
    // Getters are never called: reading one could have effects, and it holds no stored secret.
    if (!descriptor || !('value' in descriptor)) continue
    const v: unknown = descriptor.value
    // A keep-alive socket may already carry the next request; only a socket still bound to this
    // one (or to none) is ours to clean. Mock sockets (nock) keep the written header block there.
    if (typeof key === 'string' && SOCKET_KEYS.has(key) && v !== null && typeof v === 'object') {
      const bound = (v as { _httpMessage?: unknown })._httpMessage
      if (bound !== undefined && bound !== null && bound !== value) continue
    }
    if (typeof v === 'string') {
      const clean = cleanString(v, key, walk)
      if (clean !== v && descriptor.writable) (value as Record<PropertyKey, unknown>)[key] = clean
    } else if (v !== null && typeof v === 'object') {
      visit(v, typeof key === 'string' && CHAIN_KEYS.has(key) ? depth : depth + 1, walk)
    }
  }
}

/**
 * What replaces `error.request` (and `error.response.request`) in an error {@link redactError}
 * cleaned: where the request went, nothing live.
 *
 * @example
 * ```ts
 * const { method, origin, path } = (err as AxiosError).request as RequestSummary
 * ```
 */
export interface RequestSummary {
  method: string
  /** `scheme://host:port`, or `''` when unknown. */
  origin: string
  /** The path, without the query string (it may carry credentials too). */
  path: string
}

function summarize(request: object, config: unknown): RequestSummary {
  const req = request as { method?: unknown; protocol?: unknown; host?: unknown; path?: unknown }
  const cfg = (config ?? {}) as { method?: unknown; url?: unknown; baseURL?: unknown }
  let origin = ''
  let path = typeof req.path === 'string' ? req.path : ''
  try {
    const base = typeof cfg.baseURL === 'string' ? cfg.baseURL : undefined
    const url = new URL(typeof cfg.url === 'string' ? cfg.url : '', base)
    origin = url.origin
    path = url.pathname
  } catch {
    if (typeof req.protocol === 'string' && typeof req.host === 'string')
      origin = `${req.protocol}//${req.host}`
  }
  const method =
    typeof req.method === 'string' ? req.method : typeof cfg.method === 'string' ? cfg.method : ''
  return { method: method.toUpperCase(), origin, path: path.split('?')[0] ?? '' }
}

// A live request (node's ClientRequest, an XMLHttpRequest) leads through its keep-alive socket to
// whatever request that socket carries next, with that request's headers: no walk can clean what
// arrives later. An error keeps only where its request went.
function detachRequests(error: Record<string, unknown>): void {
  const response = error.response as Record<string, unknown> | undefined
  const live = [error.request, response?.request].filter(
    (r): r is object => r !== null && typeof r === 'object' && !isSummary(r),
  )
  if (live.length === 0) return
  const summary = Object.freeze(summarize(live[0]!, error.config))
  if (error.request !== undefined) error.request = summary
  if (response && typeof response === 'object' && response.request !== undefined) response.request = summary
}

function isSummary(value: object): boolean {
  const keys = Object.keys(value)
  return (
    Object.isFrozen(value) && keys.length === 3 && 'method' in value && 'origin' in value && 'path' in value
  )
}

/**
 * Removes credentials from an axios error in place: every `Authorization` header in its config and
 * its response (node's raw header copies included), and every occurrence of the given secrets; and
 * it replaces `error.request` and `error.response.request` by a plain {@link RequestSummary}
 * (method, origin, path), so nothing reachable from the error holds a live request or its socket,
 * which may already carry another request's token. After this, `JSON.stringify(error)` and
 * `util.inspect(error, { depth: Infinity })` show no token. `attachToken` does this to every error
 * its instance rejects with; call it yourself for errors of other clients.
 *
 * @example
 * ```ts
 * try { await plainAxios.get(url, { headers: { Authorization: `Bearer ${token}` } }) } catch (err) {
 *   redactError(err, [token])
 *   logger.error({ err })   // err.request is { method: 'GET', origin: 'https://api.example.com', path: '/orders' }
 * }
 * ```
 */
export function redactError(error: unknown, secrets: readonly string[] = []): void {
  if (error === null || typeof error !== 'object') return
  const usable = secrets.filter((s) => typeof s === 'string' && s.length >= 8)
  visit(error, 0, { secrets: usable, seen: new WeakMap() })
  try {
    detachRequests(error as Record<string, unknown>)
  } catch {
    // A frozen or exotic error keeps its request; the walk above has cleaned what it could.
  }
}
