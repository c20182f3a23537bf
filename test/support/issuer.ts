import { type ChildProcess, fork } from 'node:child_process'
import { createPublicKey, generateKeyPair, type KeyObject, randomBytes } from 'node:crypto'
import type { Socket } from 'node:net'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { createRemoteJWKSet, type JWK, type JWTPayload, jwtVerify } from 'jose'
import { leakGuard } from './leak-scan'

// import.meta.url works under tsx (ESM) and under jest, where swc rewrites it for CommonJS.
const SERVER_PATH = fileURLToPath(new URL('./issuer-server.mjs', import.meta.url))
const STDIO_TAIL_BYTES = 8_192
const OPTION_NAMES = [
  'accessTokenTtlSeconds',
  'scopes',
  'audience',
  'privateKeyAlg',
  'startTimeoutMs',
  'port',
  'clientSecrets',
]

/** Options of {@link startIssuer}. */
export interface IssuerOptions {
  /** Lifetime of every access token, in whole seconds (`exp - iat` and `expires_in`). Default 60. */
  accessTokenTtlSeconds?: number
  /** Scopes the API offers and every client may ask for. Default `['read', 'write']`. */
  scopes?: string[]
  /** The API the tokens are for: the JWT `aud` and the only accepted `resource`. Default `https://api.tokenstash.test`. */
  audience?: string
  /** Algorithm of the private_key_jwt client's key pair. Default `ES256`, whose key is made at once (RSA takes ~0.4 s). */
  privateKeyAlg?: 'RS256' | 'ES256'
  /** Give up if the server is not listening after this long. Default 10 000 ms. */
  startTimeoutMs?: number
  /** The loopback port to listen on, e.g. to start a killed server again where clients expect it. Default: one the OS picks. */
  port?: number
  /** The secrets of the basic and post clients, e.g. the same clients after a restart. Default: new random ones. */
  clientSecrets?: { basic: string; post: string }
}

/** A client that authenticates with a shared secret. */
export interface SecretClient {
  clientId: string
  clientSecret: string
  authMethod: 'client_secret_basic' | 'client_secret_post'
}

/** A client that authenticates with a signed assertion (RFC 7523); the server holds only its public key. */
export interface PrivateKeyJwtClient {
  clientId: string
  authMethod: 'private_key_jwt'
  /** The private key as a JWK, with `kid` and `alg` set. */
  privateJwk: JWK
  /** The same private key as a Node KeyObject. */
  privateKey: KeyObject
  /** The public half, as registered with the server. */
  publicJwk: JWK
  keyId: string
  alg: 'RS256' | 'ES256'
}

/** What the next token request(s) get instead of a real answer; see {@link Issuer.failNext}. */
export interface InjectedFailure {
  /** HTTP status, e.g. 429 or 503. */
  status: number
  /** Sent as the `Retry-After` header. */
  retryAfterSeconds?: number
  /** Response body: an object is sent as JSON, a string as text. Default: an OAuth2 error object. */
  body?: string | Record<string, unknown>
  /** Hold the response this long, to exercise client timeouts. */
  delayMs?: number
}

/** One POST to the token endpoint as the server saw it. */
export interface TokenRequestRecord {
  /** Epoch ms when the request arrived. */
  at: number
  /** From the Basic header, `client_id` or the client assertion's `iss`; absent when none was sent. */
  clientId?: string
  /** HTTP status of the answer; absent while the request is still being answered. */
  status?: number
  /** Whether the answer came from {@link Issuer.failNext} instead of oidc-provider. */
  injected: boolean
}

/** A running OAuth2 server; see {@link startIssuer}. */
export interface Issuer {
  /** Issuer identifier, `http://127.0.0.1:<port>`; discovery lives under it. */
  readonly issuer: string
  readonly port: number
  /** Process id of the server, e.g. to kill it in a crash test. */
  readonly pid: number
  readonly discoveryUrl: string
  readonly tokenEndpoint: string
  readonly jwksUri: string
  readonly audience: string
  readonly scopes: string[]
  /** A scope the server knows but grants to no client: asking for it yields `invalid_scope`. */
  readonly forbiddenScope: string
  readonly accessTokenTtlSeconds: number
  readonly clients: { basic: SecretClient; post: SecretClient; privateKeyJwt: PrivateKeyJwtClient }
  /** Token requests received since start or the last {@link Issuer.resetCounts}, for one client or all. */
  tokenRequests(clientId?: string): Promise<number>
  /** Every token request since start or the last reset, oldest first. */
  tokenRequestLog(): Promise<TokenRequestRecord[]>
  /** GET requests to the discovery document since start or the last reset. */
  discoveryRequests(): Promise<number>
  /** Zeroes the counters and the log (pending failures stay). */
  resetCounts(): Promise<void>
  /** The next `count` token requests get `failure` before oidc-provider sees them. Resolves once armed. */
  failNext(count: number, failure: InjectedFailure): Promise<void>
  /** Drops failures armed by {@link Issuer.failNext} and not yet used. */
  clearFailures(): Promise<void>
  /** Kills the server process. Safe to call twice. */
  stop(): Promise<void>
}

/**
 * The server did not start in time, crashed, or refused an admin call. When the server process said
 * something on stderr, the end of it is in `stderr` and in the message. (Bad options are a
 * `TypeError` or `RangeError` naming the option, thrown before any process starts.)
 *
 * @example
 * ```ts
 * process.kill(issuer.pid, 'SIGKILL')
 * await expect(issuer.tokenRequests()).rejects.toBeInstanceOf(IssuerError)
 * ```
 */
export class IssuerError extends Error {
  readonly stderr?: string

  constructor(message: string, stderr?: string) {
    super(stderr?.trim() ? `${message}\n--- issuer stderr ---\n${stderr.trim()}` : message)
    this.name = this.constructor.name
    this.stderr = stderr
  }
}

const live = new Set<ChildProcess>()
let exitHookInstalled = false

/**
 * Starts a real OAuth2 server (oidc-provider 9) in a child Node process on a loopback port picked by
 * the OS, with the client_credentials grant issuing RS256 JWT access tokens for one audience.
 * Three clients are registered, one per token endpoint auth method; secrets and the private_key_jwt
 * key pair are generated per start. The process is silent unless it fails to start or crashes,
 * never keeps the caller's event loop alive, and dies with the caller.
 *
 * @example
 * ```ts
 * const issuer = await startIssuer({ accessTokenTtlSeconds: 4 })
 * const { clientId, clientSecret } = issuer.clients.basic
 * const res = await fetch(issuer.tokenEndpoint, {
 *   method: 'POST',
 *   headers: { authorization: `Basic ${btoa(`${clientId}:${clientSecret}`)}` },
 *   body: new URLSearchParams({ grant_type: 'client_credentials' }),
 * })
 * expect(await issuer.tokenRequests()).toBe(1)
 * await issuer.stop()
 * ```
 */
export async function startIssuer(options: IssuerOptions = {}): Promise<Issuer> {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new TypeError(`Expected the options of \`startIssuer\` to be an object, got ${show(options)}`)
  }
  const unknown = Object.keys(options).filter((k) => !OPTION_NAMES.includes(k))
  if (unknown.length > 0) {
    throw new TypeError(
      `Unknown option ${unknown.map((k) => `\`${k}\``).join(', ')} of \`startIssuer\`; known: ${OPTION_NAMES.join(', ')}`,
    )
  }
  const accessTokenTtlSeconds = options.accessTokenTtlSeconds ?? 60
  const scopes = options.scopes ?? ['read', 'write']
  const audience = options.audience ?? 'https://api.tokenstash.test'
  const privateKeyAlg = options.privateKeyAlg ?? 'ES256'
  const startTimeoutMs = options.startTimeoutMs ?? 10_000
  checkOptions({ accessTokenTtlSeconds, scopes, audience, privateKeyAlg, startTimeoutMs })
  const { port, clientSecrets } = options
  if (port !== undefined && (!Number.isInteger(port) || port < 1 || port > 65_535))
    throw new RangeError(`Expected \`port\` to be a TCP port (1-65535), got ${show(port)}`)
  if (
    clientSecrets !== undefined &&
    (typeof clientSecrets?.basic !== 'string' || typeof clientSecrets?.post !== 'string')
  )
    throw new TypeError(
      `Expected \`clientSecrets\` to be { basic: string, post: string }, got ${clientSecrets === null ? null : typeof clientSecrets}`,
    )
  const forbiddenScope = scopes.includes('admin') ? 'tokenstash:forbidden' : 'admin'

  const child = fork(SERVER_PATH, [], {
    // The caller's flags (jest's, tsx's loaders) are not meant for a plain .mjs server.
    execArgv: [],
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    serialization: 'json',
  })
  const link = new ServerLink(child)

  try {
    // The key pair is made while the child loads oidc-provider, so neither waits for the other.
    const clientKey = await makeClientKey(privateKeyAlg)
    const clients = {
      basic: {
        clientId: 'basic-client',
        clientSecret: clientSecrets?.basic ?? secret(),
        authMethod: 'client_secret_basic' as const,
      },
      post: {
        clientId: 'post-client',
        clientSecret: clientSecrets?.post ?? secret(),
        authMethod: 'client_secret_post' as const,
      },
      privateKeyJwt: {
        clientId: 'private-key-jwt-client',
        authMethod: 'private_key_jwt' as const,
        ...clientKey,
      },
    }
    const { publicJwk, alg } = clients.privateKeyJwt
    // Tokens this issuer mints live in its child process; the clients' secrets are known here.
    for (const c of [clients.basic, clients.post]) leakGuard()?.secret(c.clientSecret, 'client secret')
    leakGuard()?.secret(clients.privateKeyJwt.privateJwk.d, 'private key')
    const config = {
      port,
      accessTokenTtlSeconds,
      scopes,
      audience,
      forbiddenScope,
      clients: [
        {
          client_id: clients.basic.clientId,
          client_secret: clients.basic.clientSecret,
          token_endpoint_auth_method: 'client_secret_basic',
        },
        {
          client_id: clients.post.clientId,
          client_secret: clients.post.clientSecret,
          token_endpoint_auth_method: 'client_secret_post',
        },
        {
          client_id: clients.privateKeyJwt.clientId,
          token_endpoint_auth_method: 'private_key_jwt',
          token_endpoint_auth_signing_alg: alg,
          jwks: { keys: [publicJwk] },
        },
      ],
    }
    const ready = await link.start(config, startTimeoutMs)
    const issuer = ready.issuer
    return {
      issuer,
      port: ready.port,
      pid: child.pid!,
      discoveryUrl: `${issuer}/.well-known/openid-configuration`,
      tokenEndpoint: `${issuer}/token`,
      jwksUri: `${issuer}/jwks`,
      audience,
      scopes: [...scopes],
      forbiddenScope,
      accessTokenTtlSeconds,
      clients,
      tokenRequests: (clientId) => {
        if (clientId !== undefined && typeof clientId !== 'string') {
          return Promise.reject(new TypeError(`Expected \`clientId\` to be a string, got ${show(clientId)}`))
        }
        return link.call<number>('tokenRequests', { clientId })
      },
      tokenRequestLog: () => link.call<TokenRequestRecord[]>('tokenRequestLog'),
      discoveryRequests: () => link.call<number>('discoveryRequests'),
      resetCounts: () => link.call<void>('resetCounts'),
      failNext: async (count, failure) => {
        checkFailure(count, failure)
        await link.call<number>('failNext', { count, failure })
      },
      clearFailures: () => link.call<void>('clearFailures'),
      stop: () => link.stop(),
    }
  } catch (err) {
    await link.stop()
    throw err
  }
}

interface ReadyMessage {
  type: 'ready'
  port: number
  issuer: string
}

interface ReplyMessage {
  type: 'reply'
  id: number
  ok: boolean
  result?: unknown
  error?: string
}

/**
 * The parent's end of the IPC link. The child and its pipes never hold the caller's event loop open
 * on their own (a test that forgets stop() must not hang jest); the channel is held open only while
 * a call or the start is waiting for an answer.
 */
class ServerLink {
  private readonly child: ChildProcess
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>()
  private nextId = 1
  private output = ''
  private exited: Promise<void>
  private exitReason: string | undefined
  private stopping = false
  private onReady: ((m: ReadyMessage) => void) | undefined

  constructor(child: ChildProcess) {
    this.child = child
    live.add(child)
    installExitHook()
    child.unref()
    for (const stream of [child.stdout, child.stderr]) {
      // The pipes are handles too; unreferenced they still deliver data.
      ;(stream as Socket | null)?.unref?.()
      stream?.setEncoding('utf8')
      stream?.on('data', (chunk: string) => {
        this.output = (this.output + chunk).slice(-STDIO_TAIL_BYTES)
      })
    }
    this.holdLoop(false)
    child.on('message', (message: ReadyMessage | ReplyMessage) => this.receive(message))
    this.exited = new Promise((resolve) => {
      const finish = (reason: string) => {
        if (this.exitReason !== undefined) return
        live.delete(child)
        this.exitReason = reason
        const error = this.failure(`the issuer process ${reason}`)
        for (const { reject } of this.pending.values()) reject(error)
        this.pending.clear()
        this.holdLoop(false)
        resolve()
      }
      child.once('exit', (code, signal) =>
        finish(signal ? `was killed by ${signal}` : `exited with code ${code}`),
      )
      // A process that never spawned emits no 'exit'; without this, stop() would wait forever.
      child.once('error', (err) => {
        if (child.pid === undefined) finish(`could not be started (${err.message})`)
      })
    })
  }

  start(config: unknown, timeoutMs: number): Promise<ReadyMessage> {
    this.holdLoop(true)
    return new Promise<ReadyMessage>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(this.failure(`the issuer did not start within ${timeoutMs} ms`))
      }, timeoutMs)
      this.onReady = (message) => {
        clearTimeout(timer)
        resolve(message)
      }
      void this.exited.then(() => {
        clearTimeout(timer)
        reject(this.failure(`the issuer process ${this.exitReason} before it was ready`))
      })
      this.child.send({ type: 'init', config }, (err) => {
        if (err) reject(this.failure(`could not configure the issuer: ${err.message}`))
      })
    }).finally(() => {
      this.onReady = undefined
      this.holdLoop(this.pending.size > 0)
    })
  }

  call<T>(op: string, args?: unknown): Promise<T> {
    if (this.exitReason !== undefined || !this.child.connected) {
      return Promise.reject(
        this.failure(`the issuer is not running (it ${this.exitReason ?? 'was stopped'})`),
      )
    }
    const id = this.nextId++
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject })
      this.holdLoop(true)
      this.child.send({ type: 'call', id, op, args }, (err) => {
        if (err && this.pending.delete(id)) reject(this.failure(`could not reach the issuer: ${err.message}`))
      })
    }).finally(() => this.holdLoop(this.pending.size > 0))
  }

  async stop(): Promise<void> {
    if (this.stopping || this.exitReason !== undefined) return this.exited
    this.stopping = true
    this.child.kill('SIGTERM')
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 2_000)
    await this.exited
    clearTimeout(timer)
  }

  private receive(message: ReadyMessage | ReplyMessage): void {
    if (message.type === 'ready') {
      this.onReady?.(message)
      return
    }
    const waiter = this.pending.get(message.id)
    if (!waiter) return
    this.pending.delete(message.id)
    if (message.ok) waiter.resolve(message.result)
    else waiter.reject(new IssuerError(`the issuer refused the call: ${message.error}`))
  }

  private holdLoop(hold: boolean): void {
    if (hold) this.child.channel?.ref()
    else this.child.channel?.unref()
  }

  private failure(message: string): IssuerError {
    return new IssuerError(message, this.output)
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  // A caller that exits without stop() still takes its servers with it.
  process.once('exit', () => {
    for (const child of live) child.kill('SIGKILL')
  })
}

async function makeClientKey(alg: 'RS256' | 'ES256') {
  const { privateKey } =
    alg === 'RS256'
      ? await promisify(generateKeyPair)('rsa', { modulusLength: 2048 })
      : await promisify(generateKeyPair)('ec', { namedCurve: 'P-256' })
  const keyId = `client-${randomBytes(6).toString('hex')}`
  const privateJwk: JWK = { ...privateKey.export({ format: 'jwk' }), kid: keyId, alg, use: 'sig' }
  const publicJwk: JWK = {
    ...createPublicKey(privateKey).export({ format: 'jwk' }),
    kid: keyId,
    alg,
    use: 'sig',
  }
  return { privateJwk, publicJwk, privateKey, keyId, alg }
}

function secret(): string {
  return randomBytes(24).toString('base64url')
}

function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value)
  if (Array.isArray(value)) return 'an array'
  return value === null ? 'null' : typeof value === 'object' ? 'an object' : String(value)
}

function checkOptions(o: Required<Omit<IssuerOptions, 'port' | 'clientSecrets'>>): void {
  if (!Number.isInteger(o.accessTokenTtlSeconds) || o.accessTokenTtlSeconds < 1) {
    throw new RangeError(
      `Expected \`accessTokenTtlSeconds\` to be a positive integer, got ${show(o.accessTokenTtlSeconds)}`,
    )
  }
  if (
    !Array.isArray(o.scopes) ||
    o.scopes.some((s) => typeof s !== 'string' || !/^[\x21\x23-\x5b\x5d-\x7e]+$/.test(s))
  ) {
    throw new TypeError(
      `Expected \`scopes\` to be an array of scope tokens (no spaces or quotes), got ${show(o.scopes)}`,
    )
  }
  if (typeof o.audience !== 'string' || !URL.canParse(o.audience) || o.audience.includes('#')) {
    throw new TypeError(
      `Expected \`audience\` to be an absolute URI without a fragment, got ${show(o.audience)}`,
    )
  }
  if (o.privateKeyAlg !== 'RS256' && o.privateKeyAlg !== 'ES256') {
    throw new TypeError(`Expected \`privateKeyAlg\` to be 'RS256' or 'ES256', got ${show(o.privateKeyAlg)}`)
  }
  if (!Number.isFinite(o.startTimeoutMs) || o.startTimeoutMs <= 0) {
    throw new RangeError(`Expected \`startTimeoutMs\` to be a positive number, got ${show(o.startTimeoutMs)}`)
  }
}

function checkFailure(count: unknown, failure: InjectedFailure | undefined): void {
  if (!Number.isInteger(count) || (count as number) < 1) {
    throw new RangeError(`Expected \`count\` to be a positive integer, got ${show(count)}`)
  }
  if (typeof failure !== 'object' || failure === null) {
    throw new TypeError(`Expected \`failure\` to be an object like { status: 503 }, got ${show(failure)}`)
  }
  if (!Number.isInteger(failure.status) || failure.status < 100 || failure.status > 599) {
    throw new RangeError(
      `Expected \`failure.status\` to be an HTTP status (100-599), got ${show(failure.status)}`,
    )
  }
  const { retryAfterSeconds, delayMs, body } = failure
  if (retryAfterSeconds !== undefined && (!Number.isInteger(retryAfterSeconds) || retryAfterSeconds < 0)) {
    throw new RangeError(
      `Expected \`failure.retryAfterSeconds\` to be a non-negative integer, got ${show(retryAfterSeconds)}`,
    )
  }
  if (delayMs !== undefined && (!Number.isFinite(delayMs) || delayMs < 0)) {
    throw new RangeError(`Expected \`failure.delayMs\` to be a non-negative number, got ${show(delayMs)}`)
  }
  if (
    body !== undefined &&
    typeof body !== 'string' &&
    (typeof body !== 'object' || body === null || Array.isArray(body))
  ) {
    throw new TypeError(`Expected \`failure.body\` to be a string or a plain object, got ${show(body)}`)
  }
}

/**
 * A function that verifies an access token of `issuer` through its JWKS (signature, `typ`
 * at+jwt, issuer, audience) and returns its claims. `issuer` may be a function returning it, read
 * at the first verification (e.g. `() => servers.issuer` before the servers are started).
 *
 * @example
 * ```ts
 * const verify = tokenVerifier(issuer)
 * expect((await verify(token)).client_id).toBe(issuer.clients.basic.clientId)
 * ```
 */
export function tokenVerifier(issuer: Issuer | (() => Issuer)): (token: string) => Promise<JWTPayload> {
  let verify: ((token: string) => Promise<JWTPayload>) | undefined
  return (token) => {
    if (!verify) {
      const { jwksUri, issuer: iss, audience } = typeof issuer === 'function' ? issuer() : issuer
      const jwks = createRemoteJWKSet(new URL(jwksUri))
      verify = async (t) => (await jwtVerify(t, jwks, { issuer: iss, audience, typ: 'at+jwt' })).payload
    }
    return verify(token)
  }
}
