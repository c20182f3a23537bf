import {
  endpointError,
  parseTokenResponse,
  TokenEndpointError,
  type TokenSet,
  type TokenSource,
} from '@tokenstash/core'

// The TokenSource of one cache key: it sends the client's request to the upstream as received
// (body bytes, content type, Authorization, query string) and turns the answer into a TokenSet
// the way core's sources do, so the provider's retry, cooldown and validation apply unchanged.
// What the upstream said is kept beside the error (never in it) so the proxy can pass it through.

/** Request headers sent upstream; hop-by-hop and client-address headers stay behind. */
const FORWARDED_HEADERS = ['content-type', 'authorization', 'accept', 'accept-language', 'user-agent']
/** Response headers passed back to the client with an upstream error. */
export const PASSED_BACK_HEADERS = ['content-type', 'retry-after', 'www-authenticate', 'x-ratelimit-reset']

export interface ForwardedRequest {
  query: string
  headers: Record<string, string | undefined>
  body: Buffer
}

/** What the upstream answered, or why it did not. */
export type UpstreamOutcome =
  | { kind: 'response'; status: number; headers: Record<string, string>; body: string }
  | { kind: 'timeout' }
  | { kind: 'unreachable' }
  | { kind: 'redirect'; status: number }

const outcomes = new WeakMap<object, UpstreamOutcome>()

/** The upstream outcome behind an error thrown by a source (or by the provider around it). */
export function upstreamOutcome(err: unknown): UpstreamOutcome | undefined {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 4; depth++) {
    const found = outcomes.get(e)
    if (found) return found
    e = (e as { cause?: unknown }).cause
  }
  return undefined
}

export interface UpstreamContext {
  upstream: string
  timeoutMs: number
  maxBodyBytes: number
  now: () => number
  fetch: typeof fetch
}

/** Appends the client's query string to the upstream URL (which may have its own). */
export function upstreamUrl(upstream: string, query: string): string {
  if (!query) return upstream
  return `${upstream}${upstream.includes('?') ? '&' : '?'}${query}`
}

/** The request headers that go upstream; the only ones a cache entry keeps. */
export function forwardedHeaders(headers: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const name of FORWARDED_HEADERS) {
    const value = headers[name]
    if (value !== undefined) out[name] = value
  }
  return out
}

export function pickHeaders(headers: Headers): Record<string, string> {
  const out: Record<string, string> = {}
  for (const name of PASSED_BACK_HEADERS) {
    const value = headers.get(name)
    if (value !== null) out[name] = value
  }
  return out
}

async function readLimited(response: Response, limit: number): Promise<string> {
  if (!response.body) return ''
  const reader = response.body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    chunks.push(value)
    if (size > limit) {
      await reader.cancel().catch(() => undefined)
      break
    }
  }
  return Buffer.concat(chunks).toString('utf8')
}

/**
 * Sends `request` upstream once. Resolves with the response, or rejects with a retryable
 * TokenEndpointError (timeout, unreachable) whose outcome {@link upstreamOutcome} finds.
 */
export async function send(
  ctx: UpstreamContext,
  request: ForwardedRequest,
  signal?: AbortSignal,
): Promise<{ response: Response; body: string }> {
  const timeout = AbortSignal.timeout(ctx.timeoutMs)
  const combined = signal ? AbortSignal.any([signal, timeout]) : timeout
  try {
    const response = await ctx.fetch(upstreamUrl(ctx.upstream, request.query), {
      method: 'POST',
      headers: forwardedHeaders(request.headers),
      body: request.body,
      redirect: 'manual',
      signal: combined,
    })
    return { response, body: await readLimited(response, ctx.maxBodyBytes) }
  } catch (err) {
    if (signal?.aborted) throw signal.reason
    const timedOut = timeout.aborted
    // The cause is left out: it may repeat the request, and the message says all that helps.
    const error = new TokenEndpointError(
      timedOut
        ? `Token endpoint ${ctx.upstream} timed out after ${ctx.timeoutMs} ms`
        : `Token endpoint ${ctx.upstream} could not be reached (${errorCode(err)})`,
      { endpoint: ctx.upstream, retryable: true },
    )
    outcomes.set(error, { kind: timedOut ? 'timeout' : 'unreachable' })
    throw error
  }
}

function errorCode(err: unknown): string {
  const cause = (err as { cause?: { code?: unknown } } | undefined)?.cause
  if (typeof cause?.code === 'string' && /^[A-Z_]{2,40}$/.test(cause.code)) return cause.code
  return err instanceof Error && /^[A-Za-z]{2,40}$/.test(err.name) ? err.name : 'network error'
}

/** The source behind one cache key; `request` is the latest client request seen for that key. */
export class ForwardingSource implements TokenSource {
  readonly id: string
  request: ForwardedRequest
  secrets: string[]
  /** Which sets this source fetched, and the sequence number current when each arrived. */
  readonly fetched = new WeakMap<TokenSet, number>()

  constructor(
    key: string,
    request: ForwardedRequest,
    secrets: string[],
    private readonly ctx: UpstreamContext,
    private readonly sequence: () => number,
  ) {
    // The HMAC key makes this id (and the provider key hashed from it) useless for guessing secrets.
    this.id = `tokenstash-proxy:${key}`
    this.request = request
    this.secrets = secrets
  }

  async fetchToken(signal?: AbortSignal): Promise<TokenSet> {
    const { ctx } = this
    const issuedAt = ctx.now()
    const { response, body } = await send(ctx, this.request, signal)
    if (response.status >= 300 && response.status <= 399) {
      const error = new TokenEndpointError(
        `Token endpoint ${ctx.upstream} answered with a redirect (${response.status}), not followed`,
        { endpoint: ctx.upstream, status: response.status, retryable: false },
      )
      outcomes.set(error, { kind: 'redirect', status: response.status })
      throw error
    }
    if (response.status < 200 || response.status > 299) {
      const error = endpointError({
        endpoint: ctx.upstream,
        status: response.status,
        headers: response.headers,
        body,
        now: ctx.now(),
        secrets: this.secrets,
        authMethod: 'as sent by the client',
      })
      outcomes.set(error, {
        kind: 'response',
        status: response.status,
        headers: pickHeaders(response.headers),
        body,
      })
      throw error
    }
    const set = Object.freeze(
      parseTokenResponse(body, {
        endpoint: ctx.upstream,
        status: response.status,
        contentType: response.headers.get('content-type'),
        issuedAt,
        now: ctx.now(),
        tokenTypes: ['Bearer'],
      }),
    )
    this.fetched.set(set, this.sequence())
    return set
  }
}
