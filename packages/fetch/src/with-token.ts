import {
  allowedOriginSet,
  ConfigError,
  isTokenRejection,
  refuseUnknownOptions,
  replayOn401,
  withheldTokenLog,
} from '@tokenstash/core'
import { DEFAULTS } from './defaults'
import { redactError } from './redact'
import type { BearerTokenProvider, WithTokenOptions } from './types'

type Fetch = typeof fetch
type Input = Parameters<Fetch>[0]
type Init = NonNullable<Parameters<Fetch>[1]>

/** One request, read the way fetch reads `(input, init)`, with its body in a form that can be sent again. */
interface Outgoing {
  url: URL
  method: string
  headers: Headers
  body: Init['body']
  /** The body can be sent more than once (a replay after 401, a 307/308 redirect). */
  replayable: boolean
  redirect: NonNullable<Init['redirect']>
  signal: AbortSignal | undefined
  /** The caller's other init members (`keepalive`, undici's `dispatcher`, ...), passed on untouched. */
  rest: Init
}

const OPTIONS = ['origins', 'retryOn401', 'logger'] as const

const REDIRECTS = new Set([301, 302, 303, 307, 308])
// Fetch standard, HTTP-redirect fetch: these go when a redirect turns the request into a GET.
const BODY_HEADERS = [
  'content-encoding',
  'content-language',
  'content-location',
  'content-type',
  'content-length',
]
// Credentials that must not cross to another origin, whoever set them.
const ORIGIN_BOUND_HEADERS = ['authorization', 'proxy-authorization', 'cookie']

function kind(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  return typeof value === 'object' ? 'an object' : typeof value === 'function' ? 'a function' : String(value)
}

function isRequest(input: unknown): input is Request {
  // Duck-typed: a Request from another realm (a test VM, a bundled undici) is a Request too.
  return (
    typeof input === 'object' &&
    input !== null &&
    !(input instanceof URL) &&
    typeof (input as Request).url === 'string' &&
    typeof (input as Request).clone === 'function'
  )
}

/** Bodies fetch can send any number of times; a stream or an async iterable is read once. */
function isReplayable(body: unknown): boolean {
  return (
    body === null ||
    body === undefined ||
    typeof body === 'string' ||
    body instanceof URLSearchParams ||
    body instanceof Blob ||
    body instanceof ArrayBuffer ||
    ArrayBuffer.isView(body) ||
    body instanceof FormData
  )
}

function parseUrl(text: string): URL | undefined {
  try {
    return new URL(text)
  } catch {
    return undefined
  }
}

/**
 * Reads `(input, init)` into an {@link Outgoing} for an allowed origin; undefined when the request
 * is not ours to touch (another origin, the caller's own Authorization, a URL fetch will refuse),
 * and then nothing of it, its body least of all, has been read.
 */
async function outgoing(
  input: Input,
  init: Init | undefined,
  origins: ReadonlySet<string>,
  withheld: (origin: string) => void,
): Promise<Outgoing | undefined> {
  const request = isRequest(input) ? input : undefined
  const url = parseUrl(request ? request.url : String(input))
  const { method, headers, body, redirect, signal, ...rest } = init ?? {}
  const allHeaders = new Headers(headers ?? request?.headers)
  if (url && /^https?:$/.test(url.protocol) && !origins.has(url.origin)) withheld(url.origin)
  if (!url || !origins.has(url.origin) || allHeaders.has('authorization')) return undefined
  let sent: Init['body'] = body
  if (sent === undefined && request?.body) {
    // A Request's body is a stream, readable once; it is read here so it can be sent again.
    sent = await request.arrayBuffer()
  }
  return {
    url,
    method: (method ?? request?.method ?? 'GET').toUpperCase(),
    headers: allHeaders,
    body: sent ?? null,
    replayable: isReplayable(sent),
    redirect: redirect ?? request?.redirect ?? 'follow',
    signal: signal ?? request?.signal ?? undefined,
    rest: request ? { keepalive: request.keepalive, ...rest } : rest,
  }
}

function tooManyRedirects(): TypeError {
  return new TypeError('fetch failed', {
    cause: new Error(`redirect count exceeded (${DEFAULTS.maxRedirects})`),
  })
}

/**
 * Wraps a `fetch` (the built-in one, undici's, or any with its signature) so that requests to the
 * given origins carry `Authorization: Bearer <token>` from a tokenstash provider.
 *
 * - The token goes only to `origins`: never to another origin, never over an `Authorization`
 *   header the caller set, and never along a redirect to another origin. Redirects of requests that
 *   carry the token are followed here (`redirect: 'manual'` underneath), so that the rule holds
 *   whatever fetch is wrapped; a redirect to another allowed origin gets the token again, but only
 *   while the chain has never left the allowed origins: after a hop elsewhere, no hop gets one.
 * - A 401 that blames the token (no challenge, a bare `Bearer` one or `invalid_token`; see
 *   `isTokenRejection` in `@tokenstash/core`) invalidates it (compare-and-delete: a burst of 401s
 *   refetches once) and, for idempotent methods with a body that can be sent again, sends the
 *   request once more with the next token. A 401 after that replay is returned as it is: no loop.
 *   When no next token can be had (the provider's loop guard, an unreachable token endpoint) the
 *   401 is returned as it is; the provider's `onEvent` reports why.
 * - Errors it rejects with hold no token.
 *
 * Responses of redirects followed here have the final response's status, headers and body;
 * `response.url` and `response.redirected` are those of the last hop as the wrapped fetch saw it.
 *
 * @example
 * ```ts
 * import { createTokenProvider, cognito } from '@tokenstash/core'
 * import { withToken } from '@tokenstash/fetch'
 *
 * const orders = createTokenProvider({ source: cognito({ domain, clientId, clientSecret }) })
 * const apiFetch = withToken(fetch, orders, { origins: ['https://orders.example.com'] })
 * const res = await apiFetch('https://orders.example.com/orders/42')   // Authorization: Bearer …
 * await apiFetch('https://other.example.com/')                          // no token: another origin
 * ```
 */
export function withToken(fetchFn: Fetch, provider: BearerTokenProvider, options: WithTokenOptions): Fetch {
  if (typeof fetchFn !== 'function') {
    throw new ConfigError(
      `Expected \`fetch\` to be a function such as the global fetch, got ${kind(fetchFn)}`,
    )
  }
  if (!provider || typeof provider.getToken !== 'function' || typeof provider.invalidate !== 'function') {
    throw new ConfigError(
      `Expected \`provider\` to be a TokenProvider (from createTokenProvider), got ${kind(provider)}`,
    )
  }
  if (options === null || typeof options !== 'object') {
    throw new ConfigError(
      `Expected \`options\` to be an object with \`origins\` (e.g. { origins: ["https://api.example.com"] }), got ${kind(options)}`,
    )
  }
  refuseUnknownOptions('withToken', options, OPTIONS)
  const origins = allowedOriginSet(options.origins, ' (a fetch has no base URL to default to)')
  const replays = replayOn401(options.retryOn401)
  const withheld = withheldTokenLog(options.logger, '@tokenstash/fetch', origins)

  /** A token for this request, remembered in `used` so that an error can be cleaned of it. */
  async function getToken(signal: AbortSignal | undefined, used: string[]): Promise<string> {
    const token = await provider.getToken(signal ? { signal } : undefined)
    used.push(token)
    return token
  }

  /** Sends one request, following its redirects; `sent` is the token the final hop carried. */
  async function send(
    req: Outgoing,
    token: string,
    used: string[],
  ): Promise<{ response: Response; sent?: string }> {
    let { url, method, body } = req
    const headers = new Headers(req.headers)
    let sent: string | undefined = token
    // Once a hop leaves the allowed origins, no later hop gets a token: an open redirect there
    // must not steer an authenticated request back to an allowed origin.
    let left = false
    for (let hop = 0; ; hop++) {
      if (sent === undefined) headers.delete('authorization')
      else headers.set('authorization', `Bearer ${sent}`)
      const response = await fetchFn(url.href, {
        ...req.rest,
        method,
        headers,
        body,
        signal: req.signal,
        redirect: req.redirect === 'follow' ? 'manual' : req.redirect,
      })
      const location = response.headers.get('location')
      if (req.redirect !== 'follow' || !REDIRECTS.has(response.status) || location === null) {
        return { response, sent }
      }
      if (hop >= DEFAULTS.maxRedirects) {
        await response.body?.cancel()
        throw tooManyRedirects()
      }
      const next = parseUrl(new URL(location, url).href)
      if (!next || (next.protocol !== 'http:' && next.protocol !== 'https:')) return { response, sent }
      const s = response.status
      if (
        ((s === 301 || s === 302) && method === 'POST') ||
        (s === 303 && method !== 'GET' && method !== 'HEAD')
      ) {
        method = 'GET'
        body = null
        for (const name of BODY_HEADERS) headers.delete(name)
      } else if (!isReplayable(body)) {
        await response.body?.cancel()
        throw new TypeError('fetch failed', {
          cause: new Error(
            `a ${s} redirect needs the request body again, and a stream body can be read only once`,
          ),
        })
      }
      await response.body?.cancel()
      if (next.origin !== url.origin) for (const name of ORIGIN_BOUND_HEADERS) headers.delete(name)
      left ||= !origins.has(next.origin)
      sent = left ? undefined : await getToken(req.signal, used)
      url = next
    }
  }

  async function tokenFetch(input: Input, init: Init | undefined, used: string[]): Promise<Response> {
    const req = await outgoing(input, init, origins, withheld)
    if (!req) return fetchFn(input, init)
    const first = await getToken(req.signal, used)
    const { response, sent } = await send(req, first, used)
    if (sent === undefined || !isTokenRejection(response)) return response
    try {
      await provider.invalidate(sent)
    } catch {
      // The provider refused (its loop guard): the 401 stands.
      return response
    }
    if (!replays(req.method) || !req.replayable || req.signal?.aborted) return response
    let next: string
    try {
      next = await getToken(req.signal, used)
    } catch {
      return response
    }
    if (next === sent) return response
    await response.body?.cancel()
    return (await send(req, next, used)).response
  }

  return async function fetchWithToken(input: Input, init?: Init): Promise<Response> {
    const used: string[] = []
    try {
      return await tokenFetch(input, init, used)
    } catch (error) {
      redactError(error, used)
      throw error
    }
  } as Fetch
}
