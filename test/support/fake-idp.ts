import { randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { sendJson } from './http'
import { leakGuard } from './leak-scan'
import { listenOnLoopback } from './ports'

/**
 * What one token request gets instead of a token. The ones oidc-provider cannot be made to give:
 * - `status`: that status with an OAuth2 error body (and `Retry-After` when `retryAfterSeconds`);
 * - `hang`: no answer for `delayMs` (a timeout), then the connection is closed;
 * - `reset-mid-body`: headers and half a token response, then a TCP reset;
 * - `truncated`: `Content-Length` says more than is sent, then the connection ends;
 * - `garbage`: 200 with random bytes; `html`: 200 with a login page;
 * - `expired`: 200 with a well-formed token whose `exp` is already past.
 */
export type IdpFault =
  | { kind: 'status'; status: number; retryAfterSeconds?: number }
  | { kind: 'hang'; delayMs: number }
  | { kind: 'reset-mid-body' }
  | { kind: 'truncated' }
  | { kind: 'garbage' }
  | { kind: 'html' }
  | { kind: 'expired' }

/** A loopback token endpoint with scripted faults; see {@link startFakeIdp}. */
export interface FakeIdp {
  /** `http://127.0.0.1:<port>/oauth2/token` */
  readonly tokenEndpoint: string
  readonly clientId: string
  /** The secret the endpoint accepts now (see `rotateSecret`). */
  readonly clientSecret: string
  /** Replaces the accepted secret with a new one and returns it, as a rotation in Secrets Manager does. */
  rotateSecret(): string
  /** Token requests received since start or the last reset. */
  requests(): number
  /** Good tokens issued since start or the last reset. */
  issued(): string[]
  /** The next `count` requests get `fault`. */
  failNext(count: number, fault: IdpFault): void
  /** From now on token requests get no answer (the connection stays open) until {@link release}. */
  hold(): void
  /** Token requests held now, oldest first (a client may have given up on some). */
  held(): number
  /** Answers the oldest held request now: with `fault`, or as if it had not been held. */
  answerHeld(fault?: IdpFault): void
  /** Stops holding; the held requests are answered in order, as if they had just come. */
  release(): void
  /** Zeroes the counters and drops pending faults. */
  reset(): void
  stop(): Promise<void>
}

export interface FakeIdpOptions {
  /** Lifetime of a good token, in seconds. Default 60. */
  ttlSeconds?: number
  /** The identity provider's clock (epoch ms), for tests that move time. Default `Date.now`. */
  now?: () => number
  /** A slow identity provider: every good token is answered this many ms after the request. Default 0. */
  delayMs?: number
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')

/** An unsigned JWT-shaped token (the provider reads `exp`; nobody verifies a signature here). */
function jwtLike(iat: number, exp: number): string {
  return `${b64({ alg: 'none', typ: 'at+jwt' })}.${b64({ iat, exp, jti: randomBytes(12).toString('hex') })}.${randomBytes(16).toString('base64url')}`
}

/**
 * A minimal OAuth2 token endpoint on a free loopback port: client_secret_basic, JWT-shaped access
 * tokens with `exp`, and faults on command that a real server does not produce (resets mid-body,
 * truncated bodies, HTML, tokens already expired). Use oidc-provider (`startIssuer`) for everything
 * a real server does; use this for what it cannot be made to do.
 *
 * @example
 * ```ts
 * const idp = await startFakeIdp({ ttlSeconds: 4 })
 * idp.failNext(2, { kind: 'status', status: 503 })
 * const source = clientCredentials({ tokenEndpoint: idp.tokenEndpoint, clientId: idp.clientId, clientSecret: idp.clientSecret })
 * await idp.stop()
 * ```
 */
export async function startFakeIdp(options: FakeIdpOptions = {}): Promise<FakeIdp> {
  const ttl = options.ttlSeconds ?? 60
  const now = options.now ?? Date.now
  const clientId = 'fake-idp-client'
  let clientSecret = ''
  let expectedAuth = ''
  const rotateSecret = () => {
    clientSecret = randomBytes(24).toString('base64url')
    leakGuard()?.secret(clientSecret, 'client secret')
    expectedAuth = `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`
    return clientSecret
  }
  rotateSecret()
  let faults: IdpFault[] = []
  let holding = false
  let held: ((fault: IdpFault | undefined) => void)[] = []
  let count = 0
  let issued: string[] = []

  const tokenBody = (expired: boolean) => {
    const iat = Math.floor(now() / 1000)
    const exp = expired ? iat - 5 : iat + ttl
    const token = jwtLike(iat, exp)
    if (!expired) issued.push(token)
    leakGuard()?.secret(token, 'access token')
    return { access_token: token, token_type: 'Bearer', expires_in: expired ? ttl : exp - iat }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    for await (const _ of req) {
      // The body is not needed: client_credentials with Basic auth.
    }
    if (req.method !== 'POST' || !req.url?.startsWith('/oauth2/token'))
      return sendJson(res, 404, { error: 'not_found' })
    count++
    const given = holding
      ? await new Promise<IdpFault | undefined>((resolve) => held.push(resolve))
      : undefined
    const fault = given ?? faults.shift()
    if (!fault) {
      if (req.headers.authorization !== expectedAuth) return sendJson(res, 401, { error: 'invalid_client' })
      if (options.delayMs) await new Promise((r) => setTimeout(r, options.delayMs))
      return sendJson(res, 200, tokenBody(false), { 'cache-control': 'no-store' })
    }
    switch (fault.kind) {
      case 'status': {
        const headers: Record<string, string> =
          fault.retryAfterSeconds === undefined ? {} : { 'retry-after': String(fault.retryAfterSeconds) }
        const error =
          fault.status === 429 || fault.status >= 500 ? 'temporarily_unavailable' : 'invalid_request'
        return sendJson(res, fault.status, { error }, headers)
      }
      case 'hang':
        await new Promise((r) => setTimeout(r, fault.delayMs))
        res.destroy()
        return
      case 'reset-mid-body': {
        const text = JSON.stringify(tokenBody(true))
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
        res.write(text.slice(0, Math.floor(text.length / 2)))
        await new Promise((r) => setTimeout(r, 5))
        ;(req.socket as Socket).resetAndDestroy()
        return
      }
      case 'truncated': {
        const text = JSON.stringify(tokenBody(true))
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
        res.write(text.slice(0, 20))
        await new Promise((r) => setTimeout(r, 5))
        req.socket.end()
        return
      }
      case 'garbage': {
        const bytes = randomBytes(64)
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': bytes.length })
        res.end(bytes)
        return
      }
      case 'html': {
        const page = '<!doctype html><html><body><form action="/login">Sign in</form></body></html>'
        res.writeHead(200, {
          'content-type': 'text/html; charset=utf-8',
          'content-length': Buffer.byteLength(page),
        })
        res.end(page)
        return
      }
      case 'expired':
        return sendJson(res, 200, tokenBody(true))
    }
  }

  const { port, stop } = await listenOnLoopback(
    createServer((req, res) => {
      handle(req, res).catch(() => res.destroy())
    }),
  )
  return {
    tokenEndpoint: `http://127.0.0.1:${port}/oauth2/token`,
    clientId,
    get clientSecret() {
      return clientSecret
    },
    rotateSecret,
    requests: () => count,
    issued: () => [...issued],
    failNext(n, fault) {
      for (let i = 0; i < n; i++) faults.push(fault)
    },
    hold() {
      holding = true
    },
    held: () => held.length,
    answerHeld(fault) {
      held.shift()?.(fault)
    },
    release() {
      holding = false
      const waiting = held
      held = []
      for (const answer of waiting) answer(undefined)
    },
    reset() {
      faults = []
      count = 0
      issued = []
    },
    stop,
  }
}
