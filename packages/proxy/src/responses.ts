import type { TokenSet } from '@tokenstash/core'

/** What the proxy answers, whatever front end (node:http, Lambda) carries it. */
export interface ProxyResponse {
  status: number
  headers: Record<string, string>
  body: string
}

const JSON_TYPE = 'application/json;charset=UTF-8'
/** RFC 6749 §5.1: token answers are never stored by anyone on the way. */
const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' }

/** `Cache-Status` (RFC 9211) with this cache's name. */
export function cacheStatus(params: string): string {
  return `tokenstash; ${params}`
}

/** An OAuth-style JSON error (RFC 6749 §5.2) produced by the proxy itself. */
export function oauthError(
  status: number,
  error: string,
  description: string,
  headers: Record<string, string> = {},
): ProxyResponse {
  return {
    status,
    headers: { 'content-type': JSON_TYPE, ...NO_STORE, ...headers },
    body: JSON.stringify({ error, error_description: description }),
  }
}

/** A token answer's JSON around its `expires_in`, and the byte length of the two parts. */
export interface RenderedToken {
  readonly head: string
  readonly tail: string
  readonly bytes: number
}

/** Built once per token: hits only fill in the number. */
const rendered = new WeakMap<TokenSet, RenderedToken>()

export function renderedToken(set: TokenSet): RenderedToken {
  let parts = rendered.get(set)
  if (!parts) {
    const json = JSON.stringify({ access_token: set.accessToken, token_type: set.tokenType })
    const head = `${json.slice(0, -1)},"expires_in":`
    const tail = set.scope === undefined ? '}' : `,"scope":${JSON.stringify(set.scope)}}`
    parts = { head, tail, bytes: Buffer.byteLength(head) + Buffer.byteLength(tail) }
    rendered.set(set, parts)
  }
  return parts
}

/**
 * What is left of the token at `now`, in whole seconds rounded down: never more than is left. A
 * token with less than a second left (served before the provider's usableUntil, which only short
 * tokens reach) says 0: it is valid for the request at hand, and the client should ask again.
 */
export function expiresIn(set: TokenSet, now: number): number {
  return Math.max(0, Math.floor((set.expiresAt - now) / 1000))
}

const HIT_STATUS = cacheStatus('hit')

/** The headers of a hit as writeHead takes them, flat: `tokenAnswer(set, now, 'hit')`'s, in its order. */
export function tokenHitHeaders(contentLength: number): string[] {
  return [
    'content-type',
    JSON_TYPE,
    'cache-control',
    NO_STORE['cache-control'],
    'pragma',
    NO_STORE.pragma,
    'cache-status',
    HIT_STATUS,
    'content-length',
    String(contentLength),
  ]
}

/** A token answer for `set`, with `expires_in` counted from `now` (never more than what is left). */
export function tokenAnswer(set: TokenSet, now: number, status: string): ProxyResponse {
  const { head, tail } = renderedToken(set)
  return {
    status: 200,
    headers: { 'content-type': JSON_TYPE, ...NO_STORE, 'cache-status': cacheStatus(status) },
    body: head + expiresIn(set, now) + tail,
  }
}

/** An upstream answer passed back as it came, marked as not stored. */
export function passThrough(
  status: number,
  headers: Record<string, string>,
  body: string,
  cache: string,
): ProxyResponse {
  return { status, headers: { ...headers, ...NO_STORE, 'cache-status': cacheStatus(cache) }, body }
}

export function jsonAnswer(status: number, value: unknown): ProxyResponse {
  return { status, headers: { 'content-type': JSON_TYPE, ...NO_STORE }, body: JSON.stringify(value) }
}
