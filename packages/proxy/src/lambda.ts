import type { IncomingTokenRequest } from './request'
import type { ProxyResponse } from './responses'

// API Gateway REST (payload 1.0), HTTP API (payload 2.0) and Lambda Function URLs (2.0 shape),
// told apart by their fields. Anything else is answered 400, never thrown.

/**
 * The fields of the three event shapes `lambdaHandler` reads (API Gateway REST payload 1.0, HTTP
 * API payload 2.0, Lambda Function URL).
 *
 * @example
 * ```ts
 * const event: LambdaHttpEvent = { version: '2.0', rawPath: '/oauth2/token', requestContext: { http: { method: 'POST' } }, body, isBase64Encoded: true }
 * ```
 */
export interface LambdaHttpEvent {
  version?: string
  httpMethod?: string
  path?: string
  rawPath?: string
  rawQueryString?: string
  headers?: Record<string, string | undefined> | null
  multiValueHeaders?: Record<string, string[] | undefined> | null
  queryStringParameters?: Record<string, string | undefined> | null
  multiValueQueryStringParameters?: Record<string, string[] | undefined> | null
  requestContext?: { http?: { method?: string; path?: string } }
  body?: string | null
  isBase64Encoded?: boolean
}

/**
 * What `lambdaHandler` returns; API Gateway (both payload versions) and Function URLs accept it.
 *
 * @example
 * ```ts
 * const { statusCode, headers, body }: LambdaHttpResult = await proxy.lambdaHandler(event)
 * ```
 */
export interface LambdaHttpResult {
  statusCode: number
  headers: Record<string, string>
  body: string
  isBase64Encoded: false
}

function lowerCase(
  single: Record<string, string | undefined> | null | undefined,
  multi: Record<string, string[] | undefined> | null | undefined,
): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {}
  for (const [name, value] of Object.entries(single ?? {}))
    if (typeof value === 'string') out[name.toLowerCase()] = value
  for (const [name, values] of Object.entries(multi ?? {}))
    if (Array.isArray(values) && values.length > 0) out[name.toLowerCase()] = values.join(', ')
  return out
}

function encodeQuery(
  single: Record<string, string | undefined> | null | undefined,
  multi: Record<string, string[] | undefined> | null | undefined,
): string {
  // Payload 1.0 hands over decoded parameters; they are encoded again for the upstream.
  const pairs: string[] = []
  const source: Record<string, string[]> = {}
  for (const [name, value] of Object.entries(single ?? {}))
    if (typeof value === 'string') source[name] = [value]
  for (const [name, values] of Object.entries(multi ?? {})) if (Array.isArray(values)) source[name] = values
  for (const [name, values] of Object.entries(source))
    for (const value of values) pairs.push(`${encodeURIComponent(name)}=${encodeURIComponent(value)}`)
  return pairs.join('&')
}

function decodeBody(event: LambdaHttpEvent, maxBodyBytes: number): Buffer | undefined {
  const raw = typeof event.body === 'string' ? event.body : ''
  const body = event.isBase64Encoded ? Buffer.from(raw, 'base64') : Buffer.from(raw, 'utf8')
  return body.length > maxBodyBytes ? undefined : body
}

/** The proxy's view of a Lambda HTTP event, or `undefined` when it is none of the three shapes. */
export function fromLambdaEvent(event: unknown, maxBodyBytes: number): IncomingTokenRequest | undefined {
  if (typeof event !== 'object' || event === null) return undefined
  const e = event as LambdaHttpEvent
  const http = e.requestContext?.http
  if (e.version === '2.0' || (http && typeof http.method === 'string')) {
    if (typeof http?.method !== 'string') return undefined
    return {
      method: http.method.toUpperCase(),
      path: typeof e.rawPath === 'string' ? e.rawPath : (http.path ?? '/'),
      query: typeof e.rawQueryString === 'string' ? e.rawQueryString : '',
      headers: lowerCase(e.headers, undefined),
      body: decodeBody(e, maxBodyBytes),
    }
  }
  if (typeof e.httpMethod !== 'string') return undefined
  return {
    method: e.httpMethod.toUpperCase(),
    path: typeof e.path === 'string' ? e.path : '/',
    query: encodeQuery(e.queryStringParameters, e.multiValueQueryStringParameters),
    headers: lowerCase(e.headers, e.multiValueHeaders),
    body: decodeBody(e, maxBodyBytes),
  }
}

export function toLambdaResult(answer: ProxyResponse): LambdaHttpResult {
  return { statusCode: answer.status, headers: answer.headers, body: answer.body, isBase64Encoded: false }
}
