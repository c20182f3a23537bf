import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { createRemoteJWKSet, type JWTPayload, errors as joseErrors, jwtVerify } from 'jose'
import { sendJson } from './http'
import type { Issuer } from './issuer'
import { leakGuard } from './leak-scan'
import { listenOnLoopback } from './ports'

/** Options of {@link startResourceServer}. */
export interface ResourceServerOptions {
  /** Expected `iss` of every token, e.g. `issuer.issuer`. */
  issuer: string
  /** Where the issuer publishes its signing keys, e.g. `issuer.jwksUri`. */
  jwksUri: string
  /** Expected `aud`, e.g. `issuer.audience`. */
  audience: string
  /** Paths starting with a key need the scope it names; a token without it gets `insufficient_scope`. */
  requiredScopes?: Record<string, string>
  /** Status of an `insufficient_scope` answer: 403 as RFC 6750 says, or 401 as some gateways do. Default 403. */
  insufficientScopeStatus?: 401 | 403
  /** Clock used to check `exp` and `nbf`, for tests of expired tokens. Default `Date.now`. */
  now?: () => number
}

/** What the next request(s) get instead of being served; see {@link ResourceServer.failNext}. */
export interface ResourceFailure {
  /** HTTP status, e.g. 503 or 429. Ignored with `destroy`. */
  status?: number
  /** Sent as `Retry-After`, in seconds. */
  retryAfterSeconds?: number
  /** Drop the connection without an answer (the client sees ECONNRESET). */
  destroy?: boolean
  /** Hold the answer this long first, to exercise client timeouts. */
  delayMs?: number
}

/** How the server judged one request's bearer token. */
export type TokenVerdict = 'valid' | 'missing' | 'invalid' | 'expired' | 'revoked' | 'insufficient_scope'

/** One request as the server saw it. Holds no token. */
export interface ResourceRequestRecord {
  method: string
  path: string
  status: number
  verdict: TokenVerdict | 'failure-injected'
  /** `sub` of a valid token (the client id for client-credentials tokens). */
  sub?: string
}

/** A running protected API; see {@link startResourceServer}. */
export interface ResourceServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string
  readonly port: number
  /** Requests received since start or the last {@link ResourceServer.reset}. */
  requests(): number
  /** Every request since start or the last reset, oldest first. */
  log(): ResourceRequestRecord[]
  /** How many requests of the {@link ResourceServer.log} got each verdict, e.g. `{ revoked: 12, valid: 12 }`. */
  verdictCounts(): Partial<Record<ResourceRequestRecord['verdict'], number>>
  /**
   * Every distinct bearer token received, kept in memory only so that tests can assert none of them
   * leaked into an error or a log. Never printed by the server.
   */
  tokensSeen(): string[]
  /** From now on, answer this token with 401 `invalid_token` (a revocation). */
  reject(token: string): void
  /** The next `count` requests get `failure` instead of being served. */
  failNext(count: number, failure: ResourceFailure): void
  /** Zeroes the log and drops pending failures; rejected tokens stay rejected. */
  reset(): void
  /** Closes the server and every open connection. Safe to call twice. */
  stop(): Promise<void>
}

const REALM = 'tokenstash-test-api'

function quote(text: string): string {
  return `"${text.replace(/["\\]/g, '\\$&')}"`
}

function challenge(error?: string, description?: string, scope?: string): string {
  const params = [`realm=${quote(REALM)}`]
  if (error) params.push(`error=${quote(error)}`)
  if (description) params.push(`error_description=${quote(description)}`)
  if (scope) params.push(`scope=${quote(scope)}`)
  return `Bearer ${params.join(', ')}`
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    req.on('error', reject)
  })
}

/**
 * Starts a protected API on a free loopback port: a node:http server that verifies bearer JWTs with
 * jose's `createRemoteJWKSet` against the issuer's JWKS (signature, `iss`, `aud`, `exp`), and
 * answers 401 with `WWW-Authenticate: Bearer error="invalid_token"` when a token is bad, expired or
 * revoked, and with a bare Bearer challenge when there is none. Valid requests get 200 with what the
 * server learnt: `{ ok, method, path, sub, scope, body }`. It can be told to revoke a token or to
 * answer the next requests with 503 and `Retry-After`, and it counts requests. It never logs.
 *
 * @example
 * ```ts
 * const issuer = await startIssuer()
 * const api = await startResourceServer({ issuer: issuer.issuer, jwksUri: issuer.jwksUri, audience: issuer.audience })
 * api.failNext(1, { status: 503, retryAfterSeconds: 1 })
 * const res = await fetch(`${api.url}/orders/1`, { headers: { authorization: `Bearer ${token}` } })
 * expect(api.requests()).toBe(1)
 * await api.stop()
 * ```
 */
export async function startResourceServer(options: ResourceServerOptions): Promise<ResourceServer> {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('Expected the options of `startResourceServer` to be an object')
  }
  for (const name of ['issuer', 'jwksUri', 'audience'] as const) {
    if (typeof options[name] !== 'string' || options[name] === '') {
      throw new TypeError(`Expected \`${name}\` of \`startResourceServer\` to be a non-empty string`)
    }
  }
  // A JWKS fetch that hangs (seen once in a full CI run: 26 of 30 calls of the service-redis example
  // waited out jose's 5 s default together, cause not found) costs 1 s and is tried again below,
  // so it cannot stall every caller past its own timeout.
  const jwks = createRemoteJWKSet(new URL(options.jwksUri), { timeoutDuration: 1_000 })
  const now = options.now ?? Date.now
  const scopeStatus = options.insufficientScopeStatus ?? 403
  const required = Object.entries(options.requiredScopes ?? {})
  const revoked = new Set<string>()
  const seen = new Set<string>()
  let log: ResourceRequestRecord[] = []
  let failures: ResourceFailure[] = []

  async function judge(
    token: string,
    path: string,
  ): Promise<{ verdict: TokenVerdict; payload?: JWTPayload; description?: string }> {
    if (revoked.has(token)) return { verdict: 'revoked', description: 'The access token was revoked' }
    let payload: JWTPayload
    const verify = () =>
      jwtVerify(token, jwks, {
        issuer: options.issuer,
        audience: options.audience,
        currentDate: new Date(now()),
      })
    try {
      ;({ payload } = await verify().catch((error: unknown) => {
        if (error instanceof joseErrors.JWKSTimeout) return verify()
        throw error
      }))
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired)
        return { verdict: 'expired', description: 'The access token expired' }
      return { verdict: 'invalid', description: 'The access token is not valid for this API' }
    }
    const granted = typeof payload.scope === 'string' ? payload.scope.split(' ') : []
    const need = required.find(([prefix]) => path.startsWith(prefix))?.[1]
    if (need && !granted.includes(need)) return { verdict: 'insufficient_scope', payload, description: need }
    return { verdict: 'valid', payload }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET'
    const path = new URL(req.url ?? '/', 'http://localhost').pathname
    const body = await readBody(req)
    const failure = failures.shift()
    if (failure) {
      if (failure.delayMs) await new Promise((resolve) => setTimeout(resolve, failure.delayMs))
      if (res.destroyed) return
      log.push({
        method,
        path,
        status: failure.destroy ? 0 : (failure.status ?? 503),
        verdict: 'failure-injected',
      })
      if (failure.destroy) {
        req.socket.destroy()
        return
      }
      const headers: Record<string, string> = {}
      if (failure.retryAfterSeconds !== undefined) headers['retry-after'] = String(failure.retryAfterSeconds)
      sendJson(res, failure.status ?? 503, { error: 'unavailable' }, headers)
      return
    }
    const auth = req.headers.authorization ?? ''
    const match = /^Bearer ([^\s]+)$/i.exec(auth)
    if (!match?.[1]) {
      log.push({ method, path, status: 401, verdict: 'missing' })
      sendJson(res, 401, { error: 'unauthorized' }, { 'www-authenticate': challenge() })
      return
    }
    const token = match[1]
    seen.add(token)
    // Tokens that reach the API from a child process (the proxy CLI, the examples) are learnt here.
    leakGuard()?.secret(token, 'access token')
    const { verdict, payload, description } = await judge(token, path)
    if (verdict === 'insufficient_scope') {
      log.push({ method, path, status: scopeStatus, verdict, sub: payload?.sub })
      const text = challenge('insufficient_scope', `This path needs the ${description} scope`, description)
      sendJson(res, scopeStatus, { error: 'insufficient_scope' }, { 'www-authenticate': text })
      return
    }
    if (verdict !== 'valid') {
      log.push({ method, path, status: 401, verdict })
      sendJson(
        res,
        401,
        { error: 'invalid_token' },
        { 'www-authenticate': challenge('invalid_token', description) },
      )
      return
    }
    log.push({ method, path, status: 200, verdict, sub: payload?.sub })
    let parsed: unknown = body
    try {
      parsed = body ? JSON.parse(body) : undefined
    } catch {
      // Not JSON: echoed as text.
    }
    sendJson(res, 200, { ok: true, method, path, sub: payload?.sub, scope: payload?.scope, body: parsed })
  }

  const { port, stop } = await listenOnLoopback(
    createServer((req, res) => {
      handle(req, res).catch(() => {
        if (!res.headersSent) sendJson(res, 500, { error: 'server_error' })
        else res.destroy()
      })
    }),
  )

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests: () => log.length,
    log: () => log.map((r) => ({ ...r })),
    verdictCounts() {
      const counts: Partial<Record<ResourceRequestRecord['verdict'], number>> = {}
      for (const { verdict } of log) counts[verdict] = (counts[verdict] ?? 0) + 1
      return counts
    },
    tokensSeen: () => [...seen],
    reject(token) {
      revoked.add(token)
    },
    failNext(count, failure) {
      if (!Number.isInteger(count) || count < 1)
        throw new RangeError(`Expected \`count\` to be an integer >= 1, got ${count}`)
      for (let i = 0; i < count; i++) failures.push({ ...failure })
    },
    reset() {
      log = []
      failures = []
    },
    stop,
  }
}

/**
 * {@link startResourceServer} for the tokens of `issuer`: its `issuer`, `jwksUri` and `audience`,
 * with `options` on top (e.g. another `audience`, for an API that rejects every one of them).
 *
 * @example
 * ```ts
 * const strict = await startResourceServerFor(issuer, { audience: 'https://other.api.test' })
 * ```
 */
export function startResourceServerFor(
  issuer: Pick<Issuer, 'issuer' | 'jwksUri' | 'audience'>,
  options: Partial<ResourceServerOptions> = {},
): Promise<ResourceServer> {
  return startResourceServer({
    issuer: issuer.issuer,
    jwksUri: issuer.jwksUri,
    audience: issuer.audience,
    ...options,
  })
}
