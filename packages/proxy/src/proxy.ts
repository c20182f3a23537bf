import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import {
  ConfigError,
  createTokenProvider,
  DEFAULTS,
  EventLogger,
  loggerOption,
  RateLimitedError,
  type TokenEvent,
  type TokenProvider,
  type TokenProviderOptions,
  TokenResponseError,
  type TokenSet,
  type TokenStore,
} from '@tokenstash/core'
import { PROXY_DEFAULTS } from './defaults'
import { fromNodeRequest, writeNodeResponse, writeTokenHit } from './http'
import { fromLambdaEvent, type LambdaHttpResult, toLambdaResult } from './lambda'
import { isLoopbackHost } from './loopback'
import { ClassificationMemo } from './memo'
import { type Cacheable, type Classified, classify, type IncomingTokenRequest } from './request'
import {
  cacheStatus,
  expiresIn,
  jsonAnswer,
  oauthError,
  type ProxyResponse,
  passThrough,
  tokenAnswer,
} from './responses'
import {
  ForwardingSource,
  forwardedHeaders,
  pickHeaders,
  send,
  type UpstreamContext,
  upstreamOutcome,
} from './upstream'

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
  /**
   * Cache keys held in memory (least recently used go first). Default 10 000. Only keys the upstream
   * issued a token for count: a request is admitted when the upstream answers 2xx.
   */
  maxKeys?: number
  /** `invalid_client` answers remembered (`negativeTtlMs`), apart from `maxKeys`. Default 1 000. */
  maxNegativeKeys?: number
  /**
   * Called with every answer's status and `Cache-Status` (hits included): for access logs and
   * counters. It gets no key, so rejected requests can be counted without creating state per client.
   */
  onAnswer?: (status: number, cacheStatus: string) => void
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
  /**
   * Stops accepting connections and lets the requests in flight finish; connections still open
   * after `drainTimeoutMs` (default 10 s: half-sent requests, slow readers) are closed. Resolves
   * `{ drained: true }` when everything ended before the deadline.
   */
  close(options?: CloseOptions): Promise<{ drained: boolean }>
}

/**
 * Options of {@link ProxyListener.close} and {@link TokenProxy.close}.
 *
 * @example
 * ```ts
 * const { drained } = await proxy.close({ drainTimeoutMs: 5_000 })
 * ```
 */
export interface CloseOptions {
  /** How long requests in flight may take before every connection is closed. Default 10 s. */
  drainTimeoutMs?: number
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
  /** Closes every server started by `listen`, letting requests in flight finish (see {@link ProxyListener.close}). */
  close(options?: CloseOptions): Promise<{ drained: boolean }>
}

interface Entry {
  provider: TokenProvider
  source: ForwardingSource
  /** Events of a key not admitted yet, delivered if the upstream accepts it, dropped if not. */
  held?: TokenEvent[]
}

/** Events held per key until the upstream's first answer; a first fetch emits a handful. */
const MAX_HELD_EVENTS = 32
/** Negative entries keep an upstream body up to this size; a larger one is not remembered. */
const MAX_NEGATIVE_BODY = 1_024

interface Negative {
  until: number
  status: number
  headers: Record<string, string>
  body: string
  /** A Retry-After of the upstream for a key it never accepted: answered 503 until `until`. */
  backoff?: boolean
}

/** Longest Retry-After remembered for a key the upstream never accepted. */
const MAX_BACKOFF_MS = 3_600_000

/** Retry-After (seconds or an HTTP date) in milliseconds from `now`; undefined when absent or past. */
function retryAfterMs(value: string | undefined, now: number): number | undefined {
  if (!value) return undefined
  const ms = /^\d+$/.test(value.trim()) ? Number(value.trim()) * 1000 : Date.parse(value) - now
  return Number.isFinite(ms) && ms > 0 ? Math.min(ms, MAX_BACKOFF_MS) : undefined
}

/** The source id whose provider key /healthz reads: `${namespace}:<hash>`, like every key the proxy uses. */
const HEALTH_SOURCE = 'tokenstash-proxy:healthz'

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
    (url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHost(url.hostname)))
  if (!ok) {
    // The URL is not shown when it holds credentials; its origin says which one is meant.
    const shown =
      url && (url.username || url.password)
        ? `a URL with credentials for ${url.protocol}//${url.host}`
        : typeof value === 'string'
          ? JSON.stringify(value.slice(0, 80))
          : typeof value
    throw new ConfigError(
      `Expected \`upstream\` to be the token endpoint URL (https, or http on loopback, without credentials), got ${shown}`,
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

const HIT = cacheStatus('hit')

function isRedirect(status: number): boolean {
  return status >= 300 && status <= 399
}

/**
 * A token endpoint that redirects is misconfigured (or not the token endpoint): the redirect is not
 * followed (it would carry the client's credentials elsewhere) nor passed on (a client following
 * it would do the same), and nothing is cached.
 */
function redirected(status: number, cache: string): ProxyResponse {
  return oauthError(
    502,
    'temporarily_unavailable',
    `The token endpoint answered with a redirect (${status}); the proxy does not follow it`,
    { 'cache-status': cache },
  )
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
  readonly #maxNegativeKeys: number
  readonly #onAnswer?: (status: number, cacheStatus: string) => void
  readonly #onEvent?: (event: TokenEvent) => void
  /** One logger for every key: warnings come from admitted keys only, one line per episode. */
  readonly #log?: EventLogger
  readonly #healthKey: string
  readonly #now: () => number
  readonly #store?: TokenStore
  readonly #storeTimeoutMs: number
  readonly #providerOptions: Omit<TokenProviderOptions, 'source'>
  readonly #ctx: UpstreamContext
  /** Admitted keys: the upstream issued a token for each. Least recently used first. */
  readonly #entries = new Map<string, Entry>()
  /** Keys whose first request is at the upstream; they leave when it answers. */
  readonly #pending = new Map<string, Entry>()
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
      maxNegativeKeys,
      onAnswer,
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
    this.#maxNegativeKeys = checkNumber('maxNegativeKeys', maxNegativeKeys, PROXY_DEFAULTS.maxNegativeKeys, 0)
    this.#memo = new ClassificationMemo(this.#maxKeys)
    if (onAnswer !== undefined && typeof onAnswer !== 'function')
      throw new ConfigError('Expected `onAnswer` to be a function')
    this.#onAnswer = onAnswer
    this.#onEvent = providerOptions.onEvent
    if (customFetch !== undefined && typeof customFetch !== 'function')
      throw new ConfigError('Expected `fetch` to be a function')
    this.#now = providerOptions.now ?? Date.now
    this.#store = providerOptions.store
    this.#storeTimeoutMs = providerOptions.storeTimeoutMs ?? DEFAULTS.storeTimeoutMs
    // Per-key providers log nothing themselves: a key's provider exists before the upstream
    // accepts its client, and one outage would be a line per key. The proxy logs admitted events.
    const logger = loggerOption(providerOptions.logger)
    this.#log = logger && new EventLogger(logger)
    this.#providerOptions = {
      ...providerOptions,
      logger: false,
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
    // the first request. Its key, in the namespace like every key the proxy writes, is the one
    // /healthz reads: a store policy that allows the proxy's keys allows that one.
    this.#healthKey = createTokenProvider({
      ...this.#providerOptions,
      onEvent: undefined,
      source: { id: HEALTH_SOURCE, fetchToken: () => Promise.reject(new Error('unused')) },
    }).key
  }

  readonly handler = (req: IncomingMessage, res: ServerResponse): void => {
    fromNodeRequest(req, res, this.#maxBodyBytes, this.#respond)
  }

  /** A fresh hit is written at once, without a promise; anything else goes the long way. */
  readonly #respond = (request: IncomingTokenRequest, res: ServerResponse): void => {
    const set = this.#fresh(request)
    if (set) {
      writeTokenHit(res, set, expiresIn(set, this.#now()))
      this.#onAnswer?.(200, HIT)
    }
    // #handle() never rejects; it answers its own failures.
    else
      void this.#handle(request).then((answer) => {
        writeNodeResponse(res, answer, request.body === undefined)
        this.#answered(answer)
      })
  }

  #answered(answer: ProxyResponse): void {
    if (!this.#onAnswer) return
    try {
      this.#onAnswer(answer.status, answer.headers['cache-status'] ?? '')
    } catch {
      // A hook that throws must not take the proxy down.
    }
  }

  readonly lambdaHandler = async (event: unknown): Promise<LambdaHttpResult> => {
    const request = fromLambdaEvent(event, this.#maxBodyBytes)
    if (!request)
      return toLambdaResult(
        oauthError(400, 'invalid_request', 'Expected an API Gateway or Function URL HTTP event'),
      )
    const answer = await this.handle(request)
    this.#answered(answer)
    return toLambdaResult(answer)
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
    let closing: Promise<{ drained: boolean }> | undefined
    const listener: ProxyListener = {
      url: `http://${shownHost}:${address.port}`,
      server,
      close: (options) => {
        closing ??= this.#drain(server, listener, options)
        return closing
      },
    }
    this.#listeners.add(listener)
    return listener
  }

  async close(options?: CloseOptions): Promise<{ drained: boolean }> {
    const results = await Promise.all([...this.#listeners].map((l) => l.close(options)))
    return { drained: results.every((r) => r.drained) }
  }

  /**
   * server.close() alone may never finish: once the server is closed, Node stops checking
   * headersTimeout and requestTimeout, so a client that sent half a request holds its connection
   * (and the process) forever. Connections that become idle are closed as they do; at the deadline
   * every connection is.
   */
  #drain(server: Server, listener: ProxyListener, options?: CloseOptions): Promise<{ drained: boolean }> {
    const deadline = checkNumber('drainTimeoutMs', options?.drainTimeoutMs, PROXY_DEFAULTS.drainTimeoutMs, 0)
    this.#listeners.delete(listener)
    return new Promise((resolve) => {
      let drained = true
      const sweep = setInterval(() => server.closeIdleConnections(), 100)
      const cut = setTimeout(() => {
        drained = false
        server.closeAllConnections()
      }, deadline)
      server.close(() => {
        clearInterval(sweep)
        clearTimeout(cut)
        resolve({ drained })
      })
      // Keep-alive connections with no request in flight would hold close() open.
      server.closeIdleConnections()
    })
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
      if (negative && negative.until > this.#now()) {
        if (negative.backoff)
          return oauthError(503, 'temporarily_unavailable', 'The token endpoint asked clients to back off', {
            'retry-after': String(Math.max(1, Math.ceil((negative.until - this.#now()) / 1000))),
            'cache-status': cacheStatus('hit; detail=backoff'),
          })
        return passThrough(negative.status, negative.headers, negative.body, 'hit; detail=invalid_client')
      }

      const entry = this.#entry(c.key, request, c.secrets)
      const mark = ++this.#sequence
      try {
        const set = await entry.provider.getTokenSet()
        if (entry.held) this.#admit(c.key, entry, request, c)
        const fetchedAt = entry.source.fetched.get(set)
        return tokenAnswer(set, this.#now(), fetchedAt !== undefined && fetchedAt > mark ? 'fwd=miss' : 'hit')
      } catch (err) {
        // A key the upstream never accepted leaves nothing behind: no entry, no event, no memo.
        const pending = entry.held !== undefined
        if (pending && this.#pending.get(c.key) === entry) this.#pending.delete(c.key)
        return this.#failure(c.key, err, pending)
      }
    } catch {
      return this.#internalError()
    }
  }

  #classify(request: IncomingTokenRequest): Classified {
    const known = this.#memo.recall(request)
    if (known) return known
    return classify(request, {
      upstream: this.#upstream,
      hmacKey: this.#hmacKey,
      otherGrants: this.#otherGrants,
      maxBodyBytes: this.#maxBodyBytes,
    })
  }

  /** The upstream issued a token for a new key: it joins the cache, its held events are delivered. */
  #admit(key: string, entry: Entry, request: IncomingTokenRequest, c: Cacheable): void {
    const held = entry.held ?? []
    entry.held = undefined
    if (this.#pending.get(key) === entry) this.#pending.delete(key)
    if (!this.#entries.has(key)) {
      if (this.#entries.size >= this.#maxKeys) this.#entries.delete(this.#entries.keys().next().value!)
      this.#touch(key, entry)
    }
    this.#memo.remember(request, c)
    for (const event of held) this.#emit(event)
  }

  #emit(event: TokenEvent): void {
    this.#log?.handle(event)
    try {
      this.#onEvent?.(event)
    } catch {
      // The provider's rule: a listener that throws changes nothing.
    }
  }

  /** Moves `entry` to the end of the map: the least recently used key is the first one. */
  #touch(key: string, entry: Entry): void {
    this.#entries.delete(key)
    this.#entries.set(key, entry)
    this.#recent = entry
  }

  #entry(key: string, request: IncomingTokenRequest, secrets: string[]): Entry {
    // Only what goes upstream is kept (a copy: the request's buffer may be a view Node reuses).
    const forwarded = {
      query: request.query,
      headers: forwardedHeaders(request.headers),
      body: Buffer.from(request.body ?? Buffer.alloc(0)),
    }
    let entry = this.#entries.get(key)
    if (entry) {
      // The latest request is the one a refresh sends: same key, so the same credentials and parameters.
      entry.source.request = forwarded
      entry.source.secrets = secrets
      this.#touch(key, entry)
      return entry
    }
    entry = this.#pending.get(key)
    if (entry) return entry
    const source = new ForwardingSource(key, forwarded, secrets, this.#ctx, () => ++this.#sequence)
    const created: Entry = { source, provider: undefined as unknown as TokenProvider, held: [] }
    created.provider = createTokenProvider({
      ...this.#providerOptions,
      source,
      onEvent: (event) => {
        if (!created.held) this.#emit(event)
        else if (created.held.length < MAX_HELD_EVENTS) created.held.push(event)
      },
    })
    this.#pending.set(key, created)
    return created
  }

  #remember(key: string, negative: Negative): void {
    if (this.#maxNegativeKeys === 0) return
    this.#negative.delete(key)
    if (this.#negative.size >= this.#maxNegativeKeys)
      this.#negative.delete(this.#negative.keys().next().value!)
    this.#negative.set(key, negative)
  }

  /** `pending`: the key was never admitted, so its provider (and any cooldown it kept) is gone. */
  #failure(key: string, err: unknown, pending: boolean): ProxyResponse {
    const outcome = upstreamOutcome(err)
    if (outcome?.kind === 'response') {
      if (
        this.#negativeTtlMs > 0 &&
        outcome.body.length <= MAX_NEGATIVE_BODY &&
        isInvalidClient(outcome.status, outcome.body)
      )
        this.#remember(key, { ...outcome, until: this.#now() + this.#negativeTtlMs })
      // The upstream's Retry-After holds for this key even though it was never admitted.
      const backoff = retryAfterMs(outcome.headers['retry-after'], this.#now())
      if (pending && backoff !== undefined && (outcome.status === 429 || outcome.status === 503))
        this.#remember(key, {
          status: 503,
          headers: {},
          body: '',
          backoff: true,
          until: this.#now() + backoff,
        })
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
    if (outcome?.kind === 'redirect') return redirected(outcome.status, status)
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
      if (isRedirect(response.status)) return redirected(response.status, cacheStatus('fwd=bypass'))
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
          .then(() => store_.get(this.#healthKey))
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
