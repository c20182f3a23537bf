import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import {
  ConfigError,
  createTokenProvider,
  DEFAULTS,
  RateLimitedError,
  type TokenProvider,
  type TokenProviderOptions,
  TokenResponseError,
  type TokenSet,
  type TokenStore,
} from '@tokenstash/core'
import { PROXY_DEFAULTS } from './defaults'
import { fromNodeRequest, writeNodeResponse, writeTokenHit } from './http'
import { fromLambdaEvent, type LambdaHttpResult, toLambdaResult } from './lambda'
import { ClassificationMemo } from './memo'
import { type Classified, classify, type IncomingTokenRequest } from './request'
import {
  cacheStatus,
  expiresIn,
  jsonAnswer,
  oauthError,
  type ProxyResponse,
  passThrough,
  tokenAnswer,
} from './responses'
import { ForwardingSource, pickHeaders, send, type UpstreamContext, upstreamOutcome } from './upstream'

/**
 * Options of {@link createTokenProxy}: the upstream, the key that keys the cache, and the
 * provider's policy options (`store`, `encryptionKey`, `refreshRatio`, `lease`, `onEvent`, ...),
 * which apply to every cache key as they would to one `createTokenProvider`.
 *
 * @example
 * ```ts
 * const options: TokenProxyOptions = {
 *   upstream: 'https://pool.auth.eu-west-1.amazoncognito.com/oauth2/token',
 *   hmacKey: process.env.TOKENSTASH_HMAC_KEY!,
 * }
 * ```
 */
export interface TokenProxyOptions extends Omit<TokenProviderOptions, 'source'> {
  /** The real token endpoint (https, or http on loopback). Requests on any path go here. */
  upstream: string
  /** 32 bytes, or base64/base64url of them: keys the cache (HMAC-SHA-256). Keep it secret. */
  hmacKey: string | Uint8Array
  /** Other grant types than client_credentials: passed through untouched (default) or refused. */
  otherGrants?: 'forward' | 'refuse'
  /** Larger request bodies get 400 `invalid_request`. Default 16 KiB. */
  maxBodyBytes?: number
  /** Per upstream request; past it the client gets 504. Default 10 s. */
  timeoutMs?: number
  /** How long `invalid_client` is answered from memory for the same credentials. Default 5 s; 0 turns it off. */
  negativeTtlMs?: number
  /** Cache keys held in memory (least recently used go first). Default 10 000. */
  maxKeys?: number
  /** Default `globalThis.fetch`, looked up on every call. */
  fetch?: typeof fetch
}

/**
 * A server started by {@link TokenProxy.listen}.
 *
 * @example
 * ```ts
 * const listener: ProxyListener = await proxy.listen(0)
 * console.log(`token endpoint: ${listener.url}/oauth2/token`)
 * await listener.close()
 * ```
 */
export interface ProxyListener {
  /** `http://HOST:PORT`, with the real port when 0 was asked. */
  readonly url: string
  readonly server: Server
  /** Stops accepting connections; resolves when the requests in flight are answered. */
  close(): Promise<void>
}

/**
 * What {@link createTokenProxy} returns.
 *
 * @example
 * ```ts
 * const proxy: TokenProxy = createTokenProxy({ upstream, hmacKey })
 * export const handler = proxy.lambdaHandler
 * ```
 */
export interface TokenProxy {
  /** A node:http request listener (also fits express, connect and friends). */
  readonly handler: (req: IncomingMessage, res: ServerResponse) => void
  /** For API Gateway REST (v1) and HTTP API (v2) events and Lambda Function URLs. */
  readonly lambdaHandler: (event: unknown) => Promise<LambdaHttpResult>
  /** Starts a node:http server; port 0 picks a free one. Default host 127.0.0.1. */
  listen(port: number, host?: string): Promise<ProxyListener>
  /** Closes every server started by `listen`, letting requests in flight finish. */
  close(): Promise<void>
}

interface Entry {
  provider: TokenProvider
  source: ForwardingSource
}

interface Negative {
  until: number
  status: number
  headers: Record<string, string>
  body: string
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]'])
const HEALTH_KEY = 'tokenstash-proxy#healthz'

function checkUpstream(value: unknown): string {
  let url: URL | undefined
  try {
    url = typeof value === 'string' ? new URL(value) : undefined
  } catch {}
  const ok =
    url &&
    !url.username &&
    !url.password &&
    !url.hash &&
    (url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK.has(url.hostname)))
  if (!ok) {
    throw new ConfigError(
      `Expected \`upstream\` to be the token endpoint URL (https, or http on loopback, without credentials), got ${typeof value === 'string' ? JSON.stringify(value.slice(0, 80)) : typeof value}`,
    )
  }
  return value as string
}

function checkHmacKey(value: unknown): Buffer {
  let bytes: Buffer | undefined
  if (value instanceof Uint8Array) bytes = Buffer.from(value)
  else if (typeof value === 'string' && /^[A-Za-z0-9+/_-]+={0,2}$/.test(value.trim()))
    bytes = Buffer.from(value.trim().replace(/-/g, '+').replace(/_/g, '/'), 'base64')
  if (bytes?.length !== 32) {
    throw new ConfigError(
      'Expected `hmacKey` to be 32 bytes or their base64 (generate one with `openssl rand -base64 32`)',
    )
  }
  return bytes
}

function checkNumber(name: string, value: unknown, fallback: number, min: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min)
    throw new ConfigError(`Expected \`${name}\` to be a number >= ${min}, got ${String(value)}`)
  return value
}

function isInvalidClient(status: number, body: string): boolean {
  if (status !== 400 && status !== 401) return false
  try {
    return (JSON.parse(body) as { error?: unknown })?.error === 'invalid_client'
  } catch {
    return false
  }
}

class CachingProxy implements TokenProxy {
  readonly #upstream: string
  readonly #hmacKey: Buffer
  readonly #otherGrants: 'forward' | 'refuse'
  readonly #maxBodyBytes: number
  readonly #negativeTtlMs: number
  readonly #maxKeys: number
  readonly #now: () => number
  readonly #store?: TokenStore
  readonly #storeTimeoutMs: number
  readonly #providerOptions: Omit<TokenProviderOptions, 'source'>
  readonly #ctx: UpstreamContext
  readonly #entries = new Map<string, Entry>()
  readonly #negative = new Map<string, Negative>()
  readonly #memo: ClassificationMemo
  readonly #listeners = new Set<ProxyListener>()
  /** The entry last moved to the end of `#entries` (most recently used): hits on it skip the move. */
  #recent?: Entry
  #sequence = 0

  constructor(options: TokenProxyOptions) {
    if (!options || typeof options !== 'object')
      throw new ConfigError('Expected an options object with `upstream` and `hmacKey`')
    const {
      upstream,
      hmacKey,
      otherGrants,
      maxBodyBytes,
      timeoutMs,
      negativeTtlMs,
      maxKeys,
      fetch: customFetch,
      ...providerOptions
    } = options
    this.#upstream = checkUpstream(upstream)
    this.#hmacKey = checkHmacKey(hmacKey)
    if (otherGrants !== undefined && otherGrants !== 'forward' && otherGrants !== 'refuse')
      throw new ConfigError(
        `Expected \`otherGrants\` to be 'forward' or 'refuse', got ${String(otherGrants)}`,
      )
    this.#otherGrants = otherGrants ?? PROXY_DEFAULTS.otherGrants
    this.#maxBodyBytes = checkNumber('maxBodyBytes', maxBodyBytes, PROXY_DEFAULTS.maxBodyBytes, 1)
    this.#negativeTtlMs = checkNumber('negativeTtlMs', negativeTtlMs, PROXY_DEFAULTS.negativeTtlMs, 0)
    this.#maxKeys = checkNumber('maxKeys', maxKeys, PROXY_DEFAULTS.maxKeys, 1)
    this.#memo = new ClassificationMemo(this.#maxKeys)
    if (customFetch !== undefined && typeof customFetch !== 'function')
      throw new ConfigError('Expected `fetch` to be a function')
    this.#now = providerOptions.now ?? Date.now
    this.#store = providerOptions.store
    this.#storeTimeoutMs = providerOptions.storeTimeoutMs ?? DEFAULTS.storeTimeoutMs
    this.#providerOptions = {
      ...providerOptions,
      retry: { ...PROXY_DEFAULTS.retry, ...providerOptions.retry },
    }
    this.#ctx = {
      upstream: this.#upstream,
      timeoutMs: checkNumber('timeoutMs', timeoutMs, PROXY_DEFAULTS.timeoutMs, 1),
      maxBodyBytes: PROXY_DEFAULTS.maxUpstreamBodyBytes,
      now: this.#now,
      fetch: (input, init) => (customFetch ?? globalThis.fetch)(input, init),
    }
    // The provider checks its own options; a throwaway one makes a bad option fail here, not on
    // the first request.
    createTokenProvider({
      ...this.#providerOptions,
      source: { id: 'tokenstash-proxy:options', fetchToken: () => Promise.reject(new Error('unused')) },
    })
  }

  readonly handler = (req: IncomingMessage, res: ServerResponse): void => {
    fromNodeRequest(req, res, this.#maxBodyBytes, this.#respond)
  }

  /** A fresh hit is written at once, without a promise; anything else goes the long way. */
  readonly #respond = (request: IncomingTokenRequest, res: ServerResponse): void => {
    const set = this.#fresh(request)
    if (set) writeTokenHit(res, set, expiresIn(set, this.#now()))
    // #handle() never rejects; it answers its own failures.
    else
      void this.#handle(request).then((answer) => writeNodeResponse(res, answer, request.body === undefined))
  }

  readonly lambdaHandler = async (event: unknown): Promise<LambdaHttpResult> => {
    const request = fromLambdaEvent(event, this.#maxBodyBytes)
    if (!request)
      return toLambdaResult(
        oauthError(400, 'invalid_request', 'Expected an API Gateway or Function URL HTTP event'),
      )
    return toLambdaResult(await this.handle(request))
  }

  async listen(port: number, host = '127.0.0.1'): Promise<ProxyListener> {
    if (!Number.isInteger(port) || port < 0 || port > 65_535)
      throw new ConfigError(`Expected \`port\` to be an integer in [0, 65535], got ${String(port)}`)
    const server = createServer(this.handler)
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, host, () => {
        server.off('error', reject)
        resolve()
      })
    })
    const address = server.address() as AddressInfo
    const shownHost = host.includes(':') ? `[${host}]` : host
    const listener: ProxyListener = {
      url: `http://${shownHost}:${address.port}`,
      server,
      close: () =>
        new Promise<void>((resolve) => {
          this.#listeners.delete(listener)
          server.close(() => resolve())
          // Keep-alive connections with no request in flight would hold close() open.
          server.closeIdleConnections()
        }),
    }
    this.#listeners.add(listener)
    return listener
  }

  async close(): Promise<void> {
    await Promise.all([...this.#listeners].map((l) => l.close()))
  }

  /** One request, whatever front end brought it. Never rejects. */
  async handle(request: IncomingTokenRequest): Promise<ProxyResponse> {
    const set = this.#fresh(request)
    return set ? tokenAnswer(set, this.#now(), 'hit') : this.#handle(request)
  }

  /**
   * The hot path: a request seen before (same bytes) whose key holds a token before its refreshAt,
   * served without a promise. Anything else (a miss, the refresh window, a negative entry, a
   * request never seen) returns `undefined` and takes #handle, which decides as it always did.
   * The provider's peek counts the hit, so stats and `hit-memory` events are the same.
   */
  #fresh(request: IncomingTokenRequest): TokenSet | undefined {
    try {
      const c = this.#memo.recall(request)
      if (!c) return undefined
      if (this.#negative.size > 0) {
        const negative = this.#negative.get(c.key)
        if (negative && negative.until > this.#now()) return undefined
        // An expired one would send every later hit of its key the long way.
        if (negative) this.#negative.delete(c.key)
      }
      const entry = this.#entries.get(c.key)
      const set = entry?.provider.peekTokenSet?.()
      if (!entry || !set) return undefined
      if (entry !== this.#recent) this.#touch(c.key, entry)
      return set
    } catch {
      return undefined
    }
  }

  async #handle(request: IncomingTokenRequest): Promise<ProxyResponse> {
    try {
      if (request.path === '/healthz' && (request.method === 'GET' || request.method === 'HEAD'))
        return await this.#health()
      const c = this.#classify(request)
      if (c.kind === 'refuse') return oauthError(c.status, c.error, c.description, c.headers)
      if (c.kind === 'forward') return await this.#forward(request)

      const negative = this.#negative.get(c.key)
      if (negative && negative.until > this.#now())
        return passThrough(negative.status, negative.headers, negative.body, 'hit; detail=invalid_client')

      const entry = this.#entry(c.key, request, c.secrets)
      const mark = ++this.#sequence
      try {
        const set = await entry.provider.getTokenSet()
        const fetchedAt = entry.source.fetched.get(set)
        return tokenAnswer(set, this.#now(), fetchedAt !== undefined && fetchedAt > mark ? 'fwd=miss' : 'hit')
      } catch (err) {
        return this.#failure(c.key, err)
      }
    } catch {
      return this.#internalError()
    }
  }

  #classify(request: IncomingTokenRequest): Classified {
    const known = this.#memo.recall(request)
    if (known) return known
    const c = classify(request, {
      upstream: this.#upstream,
      hmacKey: this.#hmacKey,
      otherGrants: this.#otherGrants,
      maxBodyBytes: this.#maxBodyBytes,
    })
    if (c.kind === 'cache') this.#memo.remember(request, c)
    return c
  }

  /** Moves `entry` to the end of the map: the least recently used key is the first one. */
  #touch(key: string, entry: Entry): void {
    this.#entries.delete(key)
    this.#entries.set(key, entry)
    this.#recent = entry
  }

  #entry(key: string, request: IncomingTokenRequest, secrets: string[]): Entry {
    const forwarded = {
      query: request.query,
      headers: request.headers,
      body: request.body ?? Buffer.alloc(0),
    }
    let entry = this.#entries.get(key)
    if (entry) {
      // The latest request is the one a refresh sends: same key, so the same credentials and parameters.
      entry.source.request = forwarded
      entry.source.secrets = secrets
    } else {
      const source = new ForwardingSource(key, forwarded, secrets, this.#ctx, () => ++this.#sequence)
      entry = { source, provider: createTokenProvider({ ...this.#providerOptions, source }) }
      if (this.#entries.size >= this.#maxKeys) this.#entries.delete(this.#entries.keys().next().value!)
    }
    this.#touch(key, entry)
    return entry
  }

  #failure(key: string, err: unknown): ProxyResponse {
    const outcome = upstreamOutcome(err)
    if (outcome?.kind === 'response') {
      if (this.#negativeTtlMs > 0 && isInvalidClient(outcome.status, outcome.body)) {
        if (this.#negative.size >= this.#maxKeys) this.#negative.delete(this.#negative.keys().next().value!)
        this.#negative.set(key, { ...outcome, until: this.#now() + this.#negativeTtlMs })
      }
      return passThrough(
        outcome.status,
        outcome.headers,
        outcome.body,
        `fwd=miss; fwd-status=${outcome.status}`,
      )
    }
    const status = cacheStatus('fwd=miss')
    if (outcome?.kind === 'timeout')
      return oauthError(504, 'temporarily_unavailable', 'The token endpoint did not answer in time', {
        'cache-status': status,
      })
    if (outcome?.kind === 'unreachable')
      return oauthError(502, 'temporarily_unavailable', 'The token endpoint could not be reached', {
        'cache-status': status,
      })
    if (err instanceof RateLimitedError) {
      const seconds = Math.max(1, Math.ceil((err.retryAt - this.#now()) / 1000))
      return oauthError(503, 'temporarily_unavailable', 'The token endpoint asked clients to back off', {
        'retry-after': String(seconds),
        'cache-status': status,
      })
    }
    if (err instanceof TokenResponseError)
      return oauthError(
        502,
        'temporarily_unavailable',
        `The token endpoint answered with something that is not a usable token (${err.reason})`,
        { 'cache-status': status },
      )
    return oauthError(502, 'temporarily_unavailable', 'The token could not be obtained', {
      'cache-status': status,
    })
  }

  async #forward(request: IncomingTokenRequest): Promise<ProxyResponse> {
    try {
      const { response, body } = await send(this.#ctx, {
        query: request.query,
        headers: request.headers,
        body: request.body ?? Buffer.alloc(0),
      })
      return passThrough(response.status, pickHeaders(response.headers), body, 'fwd=bypass')
    } catch (err) {
      const timedOut = upstreamOutcome(err)?.kind === 'timeout'
      return oauthError(
        timedOut ? 504 : 502,
        'temporarily_unavailable',
        timedOut ? 'The token endpoint did not answer in time' : 'The token endpoint could not be reached',
        { 'cache-status': cacheStatus('fwd=bypass') },
      )
    }
  }

  async #health(): Promise<ProxyResponse> {
    let store: 'none' | 'reachable' | 'unreachable' = 'none'
    if (this.#store) {
      const store_ = this.#store
      let timer: NodeJS.Timeout | undefined
      store = await Promise.race([
        Promise.resolve()
          .then(() => store_.get(HEALTH_KEY))
          .then(
            () => 'reachable' as const,
            () => 'unreachable' as const,
          ),
        new Promise<'unreachable'>((resolve) => {
          timer = setTimeout(() => resolve('unreachable'), this.#storeTimeoutMs)
        }),
      ]).finally(() => clearTimeout(timer))
    }
    return jsonAnswer(200, { status: 'ok', store, keys: this.#entries.size })
  }

  #internalError(): ProxyResponse {
    return oauthError(500, 'server_error', 'The proxy failed to handle the request')
  }
}

/**
 * A caching proxy for an OAuth2 token endpoint. Client-credentials requests are answered from a
 * cache keyed by an HMAC of the upstream, the client's full credentials and its normalised
 * parameters; misses go upstream as sent. Each key is a `createTokenProvider`, so the proxy
 * refreshes at 75% of the lifetime, makes one request per key at a time, shares tokens (sealed)
 * and a lease with other proxy instances through `store`, and backs off together on Retry-After.
 *
 * @example
 * ```ts
 * import { createTokenProxy } from '@tokenstash/proxy'
 *
 * const proxy = createTokenProxy({
 *   upstream: 'https://pool.auth.eu-west-1.amazoncognito.com/oauth2/token',
 *   hmacKey: process.env.TOKENSTASH_HMAC_KEY!,
 * })
 * const { url } = await proxy.listen(8080)
 * // clients post to `${url}/oauth2/token` instead of Cognito
 * ```
 */
export function createTokenProxy(options: TokenProxyOptions): TokenProxy {
  return new CachingProxy(options)
}
