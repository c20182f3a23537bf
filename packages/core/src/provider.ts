import { randomUUID } from 'node:crypto'
import { DEFAULTS } from './defaults'
import { type EncryptionKeyInput, Keyring } from './encryption'
import { EntryCodec } from './entry'
import {
  ConfigError,
  RateLimitedError,
  StoreError,
  TokenEndpointError,
  TokenRejectedError,
  TokenResponseError,
  TokenstashError,
} from './errors'
import { checkNamespace, derivedKey, providerKey } from './key'
import { type Timing, timing } from './policy'
import { fetchWithRetry, type RetryOptions } from './retry'
import { SingleFlight, sleep, withSignal, withTimeout } from './single-flight'
import type {
  GetTokenOptions,
  ProviderStats,
  TokenEvent,
  TokenProvider,
  TokenSet,
  TokenSource,
  TokenStore,
} from './types'
import { expectFunction, optionalNumber } from './validate'

export interface TokenProviderOptions {
  /** How a token is obtained: `clientCredentials(...)`, `auth0(...)`, `cognito(...)` or your own. */
  source: TokenSource
  /** Shared second tier (DynamoDB, Redis). The first tier is always this provider's memory. */
  store?: TokenStore
  /**
   * 32 bytes (a string is base64 or base64url of them) sealing entries in the shared store with
   * AES-256-GCM. A list rotates: the first encrypts, all decrypt. Required with a store unless
   * `encryption: false`.
   */
  encryptionKey?: EncryptionKeyInput
  /** Store tokens in clear in the shared store. Only for stores nobody else can read. */
  encryption?: false
  /** Refresh once this fraction of the lifetime has passed. Default 0.75. */
  refreshRatio?: number
  /** Never hand out a token this close to expiry (capped at 1/8 of the lifetime). Default 30 s. */
  expirySkewMs?: number
  /** Spread: refreshAt is pulled earlier by up to this fraction of the lifetime, per instance. Default 0.05. */
  jitter?: number
  retry?: Partial<RetryOptions>
  lease?: { ttlMs?: number; waitMs?: number }
  /** Bound on every store call. Default 1000 ms. */
  storeTimeoutMs?: number
  /** Part of the cache key: separates environments or tenants sharing a store. Default 'default'. */
  namespace?: string
  /** Observability hook. Events never hold a token or a secret. A throwing hook is ignored. */
  onEvent?: (event: TokenEvent) => void
  /** Clock, for tests. Default `Date.now`. */
  now?: () => number
  /**
   * Refresh in the background while serving the current token (default outside AWS Lambda), or inline
   * by the caller that wins the lease (default inside Lambda, where work after the response is frozen).
   */
  backgroundRefresh?: boolean
}

interface Cached {
  set: TokenSet
  timing: Timing
  /** This token replaced one that was rejected (see invalidate's loop guard). */
  replacesRejected: boolean
  adoptedAt: number
}

type Mode = 'obtain' | 'refresh' | 'force'

const FLIGHT = 'token'
// Lease losers poll often at first (the winner's fetch usually takes 50-300 ms), then back off.
// Each delay is jittered ±25% so a cold burst of containers does not read one item in lockstep
// (on DynamoDB one item is one partition, with a few thousand strong reads per second at most).
const POLL_MS = [25, 40, 60, 100, 150, 200, 250]
/** The cooldown is read on every third poll only: it matters after the winner failed, which is rare. */
const COOLDOWN_EVERY = 3

class Provider implements TokenProvider {
  readonly key: string
  readonly #source: TokenSource
  readonly #store?: TokenStore
  readonly #codec: EntryCodec
  readonly #now: () => number
  readonly #onEvent?: (event: TokenEvent) => void
  readonly #policy: { refreshRatio: number; jitterFraction: number; expirySkewMs: number }
  readonly #retry: RetryOptions
  readonly #lease: { ttlMs: number; waitMs: number }
  readonly #storeTimeoutMs: number
  readonly #background: boolean
  readonly #owner = randomUUID()
  readonly #flight = new SingleFlight<Cached | undefined>()
  readonly #stats: ProviderStats = {
    l1Hits: 0,
    l2Hits: 0,
    fetches: 0,
    fetchErrors: 0,
    leaseWaits: 0,
    storeErrors: 0,
  }

  #cur?: Cached
  #pendingReplacement = false
  #cooldownUntil = 0
  #storeDown = false
  #storeSkipUntil = 0
  #nextRefreshTry = 0

  constructor(options: TokenProviderOptions) {
    if (!options || typeof options !== 'object')
      throw new ConfigError('Expected an options object with a `source`')
    const { source, store } = options
    if (!source || typeof source.fetchToken !== 'function' || typeof source.id !== 'string') {
      throw new ConfigError(
        'Expected `source` to be a TokenSource such as clientCredentials({...}), auth0({...}) or cognito({...})',
      )
    }
    if (store !== undefined) {
      for (const m of ['get', 'set', 'delete', 'acquireLease', 'releaseLease'] as const) {
        if (typeof store?.[m] !== 'function') {
          throw new ConfigError(`Expected \`store\` to be a TokenStore with a \`${m}\` method`)
        }
      }
    }
    let keyring: Keyring | undefined
    if (options.encryption !== undefined && options.encryption !== false) {
      throw new ConfigError(
        `Expected \`encryption\` to be false or left out, got ${String(options.encryption)}`,
      )
    }
    if (options.encryption === false) {
      if (options.encryptionKey !== undefined) {
        throw new ConfigError(
          '`encryption: false` and `encryptionKey` contradict each other: pass one of them',
        )
      }
    } else if (options.encryptionKey !== undefined) {
      keyring = new Keyring(options.encryptionKey)
    } else if (store) {
      throw new ConfigError(
        'A shared `store` needs `encryptionKey` (32 random bytes as base64, e.g. from Secrets Manager or SSM; ' +
          'generate one with `openssl rand -base64 32`), or `encryption: false` if nobody else can read the store',
      )
    }

    const refreshRatio = optionalNumber('refreshRatio', options.refreshRatio, DEFAULTS.refreshRatio, {
      min: 0,
      minExclusive: true,
      max: 1,
    })
    const jitter = optionalNumber('jitter', options.jitter, DEFAULTS.jitter, { min: 0, max: 0.5 })
    if (jitter >= refreshRatio) {
      throw new ConfigError(
        `Expected \`jitter\` to be smaller than \`refreshRatio\` (${refreshRatio}), got ${jitter}`,
      )
    }
    const r = options.retry ?? {}
    this.#retry = {
      retries: optionalNumber('retry.retries', r.retries, DEFAULTS.retry.retries, {
        min: 0,
        max: 20,
        integer: true,
      }),
      minTimeoutMs: optionalNumber('retry.minTimeoutMs', r.minTimeoutMs, DEFAULTS.retry.minTimeoutMs, {
        min: 0,
      }),
      maxTimeoutMs: optionalNumber('retry.maxTimeoutMs', r.maxTimeoutMs, DEFAULTS.retry.maxTimeoutMs, {
        min: 0,
      }),
      factor: optionalNumber('retry.factor', r.factor, DEFAULTS.retry.factor, { min: 1 }),
      maxElapsedMs: optionalNumber('retry.maxElapsedMs', r.maxElapsedMs, DEFAULTS.retry.maxElapsedMs, {
        min: 0,
        minExclusive: true,
      }),
    }
    if (this.#retry.maxTimeoutMs < this.#retry.minTimeoutMs) {
      throw new ConfigError(
        `Expected \`retry.maxTimeoutMs\` (${this.#retry.maxTimeoutMs}) to be at least \`retry.minTimeoutMs\` (${this.#retry.minTimeoutMs})`,
      )
    }
    const l = options.lease ?? {}
    this.#lease = {
      ttlMs: optionalNumber('lease.ttlMs', l.ttlMs, DEFAULTS.lease.ttlMs, { min: 0, minExclusive: true }),
      waitMs: optionalNumber('lease.waitMs', l.waitMs, DEFAULTS.lease.waitMs, { min: 0 }),
    }
    this.#storeTimeoutMs = optionalNumber('storeTimeoutMs', options.storeTimeoutMs, DEFAULTS.storeTimeoutMs, {
      min: 0,
      minExclusive: true,
    })
    this.#policy = {
      refreshRatio,
      // Drawn once per instance, so a fleet's refreshes spread instead of landing together.
      jitterFraction: Math.random() * jitter,
      expirySkewMs: optionalNumber('expirySkewMs', options.expirySkewMs, DEFAULTS.expirySkewMs, { min: 0 }),
    }
    this.#now = options.now === undefined ? Date.now : expectFunction('now', options.now)
    if (options.onEvent !== undefined) this.#onEvent = expectFunction('onEvent', options.onEvent)
    if (options.backgroundRefresh !== undefined && typeof options.backgroundRefresh !== 'boolean') {
      throw new ConfigError(
        `Expected \`backgroundRefresh\` to be a boolean, got ${typeof options.backgroundRefresh}`,
      )
    }
    this.#background = options.backgroundRefresh ?? !process.env.AWS_LAMBDA_FUNCTION_NAME

    this.#source = source
    this.#store = store
    this.key = providerKey(source.id, checkNamespace(options.namespace ?? DEFAULTS.namespace))
    this.#codec = new EntryCodec(this.key, keyring)
  }

  getToken(opts?: GetTokenOptions): Promise<string> {
    // The warm path: no I/O, no timer, one comparison.
    const cur = this.#cur
    if (cur && !opts?.forceRefresh && this.#now() < cur.timing.refreshAt) {
      this.#hit(cur)
      return Promise.resolve(cur.set.accessToken)
    }
    return this.getTokenSet(opts).then((set) => set.accessToken)
  }

  async getTokenSet(opts: GetTokenOptions = {}): Promise<TokenSet> {
    opts.signal?.throwIfAborted()
    const force = opts.forceRefresh === true
    // A token is never served at or after usableUntil, even if the clock moved while we waited.
    for (let obtained = 0; ; ) {
      const cur = this.#cur
      const now = this.#now()
      if (cur && !force && now < cur.timing.usableUntil) {
        this.#hit(cur)
        if (now < cur.timing.refreshAt) return cur.set
        const refreshed = this.#refresh(cur)
        if (this.#background) return cur.set
        const fresh = await withSignal(refreshed, opts.signal)
        const after = this.#now()
        if (fresh && after < fresh.timing.usableUntil) return fresh.set
        if (after < cur.timing.usableUntil) return cur.set
        // The refresh outlasted the current token: obtain a new one like any caller without one.
        continue
      }
      const got = await withSignal(this.#obtain(force ? 'force' : 'obtain', cur), opts.signal)
      if (got && this.#now() < got.timing.usableUntil) return got.set
      if (++obtained >= 2) {
        throw new TokenResponseError(
          `The token from ${this.#endpointName()} was no longer usable when it arrived (lifetime shorter than the request took)`,
          { endpoint: this.#endpointName(), reason: 'expired_on_arrival' },
        )
      }
    }
  }

  async invalidate(rejectedToken?: string): Promise<void> {
    const cur = this.#cur
    if (rejectedToken !== undefined) {
      if (typeof rejectedToken !== 'string') throw new ConfigError('Expected `rejectedToken` to be a string')
      if (cur && cur.set.accessToken === rejectedToken) {
        if (cur.replacesRejected && this.#now() - cur.adoptedAt < DEFAULTS.rejectionWindowMs) {
          this.#emit({ type: 'error', code: 'ERR_TOKEN_REJECTED' })
          throw new TokenRejectedError(
            `A token fetched from ${this.#endpointName()} to replace a rejected one was rejected as well; ` +
              'not fetching again to avoid a loop. Check that the audience, scope and issuer match what the API expects.',
          )
        }
        this.#cur = undefined
        this.#pendingReplacement = true
      }
      if (this.#store) {
        // Compare-and-delete on the exact stored value, so a burst of 401s for one token deletes once
        // and never removes the fresh token another instance has already written.
        const raw = await this.#storeCall('get', (s) => s.get(this.key), undefined)
        const stored = await this.#codec.decodeToken(raw)
        if (raw !== undefined && stored?.accessToken === rejectedToken) {
          await this.#storeCall('delete', (s) => s.delete(this.key, raw), undefined)
        }
      }
    } else {
      this.#cur = undefined
      await this.#storeCall('delete', (s) => s.delete(this.key), undefined)
    }
    this.#emit({ type: 'invalidate' })
  }

  stats(): ProviderStats {
    return { ...this.#stats }
  }

  // ---- tiers and flights ------------------------------------------------------------------

  #hit(cur: Cached): void {
    this.#stats.l1Hits++
    if (this.#onEvent) this.#emit({ type: 'hit-memory', expiresAt: cur.set.expiresAt })
  }

  /** Serve-while-refreshing. Never rejects: the current token stays usable whatever happens. */
  #refresh(cur: Cached): Promise<Cached | undefined> {
    if (!this.#flight.has(FLIGHT) && this.#now() < this.#nextRefreshTry) return Promise.resolve(undefined)
    return this.#flight
      .run(FLIGHT, () => this.#acquire('refresh', cur))
      .then(
        (fresh) => {
          if (!fresh || fresh === cur) this.#backOffRefresh(cur)
          return fresh
        },
        (err) => {
          this.#backOffRefresh(cur)
          this.#emitError(err)
          return undefined
        },
      )
  }

  // After a refresh that found nothing to do (another instance holds the lease) or failed, wait a
  // little before trying again, so calls in the refresh window do not each hit the store.
  #backOffRefresh(cur: Cached): void {
    const left = cur.timing.usableUntil - this.#now()
    this.#nextRefreshTry = this.#now() + Math.max(10, Math.min(1_000, left / 8))
  }

  async #obtain(mode: 'obtain' | 'force', prev: Cached | undefined): Promise<Cached | undefined> {
    // Join whatever is in flight (a refresh counts) before starting our own.
    const shared = await this.#flight
      .run(FLIGHT, () => this.#acquire(mode, prev))
      .catch((err) => {
        this.#emitError(err)
        throw err
      })
    if (shared && this.#now() < shared.timing.usableUntil && (mode !== 'force' || shared !== prev))
      return shared
    return this.#flight.run(FLIGHT, () => this.#acquire(mode, this.#cur ?? prev))
  }

  /** Steps 3 and 4 of DESIGN.md: store, cooldown, lease, fetch, write, release. */
  async #acquire(mode: Mode, prev: Cached | undefined): Promise<Cached | undefined> {
    const store = this.#store
    const newerThan = prev?.set.issuedAt ?? Number.NEGATIVE_INFINITY

    if (store && mode !== 'force') {
      const found = await this.#freshFromStore(mode, newerThan)
      if (found) return found
    }

    await this.#checkCooldown(mode)

    let won = true
    if (store)
      won = await this.#storeCall(
        'acquireLease',
        (s) => s.acquireLease(derivedKey.lease(this.key), this.#owner, this.#lease.ttlMs),
        true,
      )
    if (!won) {
      // Another instance is fetching. During a refresh the current token is still good: keep it.
      if (mode === 'refresh') return undefined
      const waited = await this.#waitForWinner(newerThan)
      if (waited) return waited
      // Fail open: availability over thrift. But never against a shared cooldown.
      await this.#checkCooldown(mode)
    }
    try {
      // Double-check after winning: the previous holder may have written its token and released
      // the lease between our read above and our acquireLease; fetching then would be a second request.
      if (store && won && mode !== 'force') {
        const found = await this.#freshFromStore(mode, newerThan)
        if (found) return found
      }
      const started = this.#now()
      const set = await this.#fetch()
      const cached = this.#adopt(set)
      this.#emit({
        type: mode === 'refresh' ? 'refresh' : 'fetch',
        durationMs: this.#now() - started,
        expiresAt: set.expiresAt,
      })
      await this.#writeToken(set)
      return this.#cur ?? cached
    } finally {
      if (store && won) {
        await this.#storeCall(
          'releaseLease',
          (s) => s.releaseLease(derivedKey.lease(this.key), this.#owner),
          undefined,
        )
      }
    }
  }

  /** A token in the store newer than `newerThan` and still good for `mode`, adopted; else undefined. */
  async #freshFromStore(mode: Mode, newerThan: number): Promise<Cached | undefined> {
    const found = await this.#readToken()
    if (!found || found.issuedAt <= newerThan) return undefined
    const t = timing(found, this.#policy)
    if (this.#now() >= (mode === 'refresh' ? t.refreshAt : t.usableUntil)) return undefined
    this.#stats.l2Hits++
    this.#emit({ type: 'hit-store', expiresAt: found.expiresAt })
    return this.#adopt(found)
  }

  /** Lease lost: poll the store with short, growing intervals for the winner's token. */
  async #waitForWinner(newerThan: number): Promise<Cached | undefined> {
    this.#stats.leaseWaits++
    const started = performance.now()
    for (let i = 0; ; i++) {
      const elapsed = performance.now() - started
      if (elapsed >= this.#lease.waitMs || this.#storeSkipped()) break
      const delay = POLL_MS[Math.min(i, POLL_MS.length - 1)]! * (0.75 + Math.random() * 0.5)
      await sleep(Math.min(delay, this.#lease.waitMs - elapsed))
      const [found, cooldown] = await Promise.all([
        this.#readToken(),
        i % COOLDOWN_EVERY === COOLDOWN_EVERY - 1 ? this.#readCooldown() : undefined,
      ])
      if (found && found.issuedAt > newerThan && this.#now() < timing(found, this.#policy).usableUntil) {
        this.#stats.l2Hits++
        this.#emit({
          type: 'lease-wait',
          durationMs: Math.round(performance.now() - started),
          expiresAt: found.expiresAt,
        })
        return this.#adopt(found)
      }
      if (cooldown !== undefined && cooldown > this.#now()) break
    }
    this.#emit({ type: 'lease-wait', durationMs: Math.round(performance.now() - started) })
    return undefined
  }

  #adopt(set: TokenSet): Cached {
    const cur = this.#cur
    // Sequence guard: a late response never replaces a newer token.
    if (cur && cur.set.issuedAt > set.issuedAt && this.#now() < cur.timing.usableUntil) return cur
    const cached: Cached = {
      set: Object.isFrozen(set) ? set : Object.freeze({ ...set }),
      timing: timing(set, this.#policy),
      replacesRejected: this.#pendingReplacement,
      adoptedAt: this.#now(),
    }
    this.#pendingReplacement = false
    this.#cur = cached
    return cached
  }

  // ---- token endpoint ----------------------------------------------------------------------

  async #fetch(): Promise<TokenSet> {
    const attempt = async (signal?: AbortSignal): Promise<TokenSet> => {
      this.#stats.fetches++
      try {
        return checkTokenSet(await this.#source.fetchToken(signal), this.#endpointName())
      } catch (err) {
        this.#stats.fetchErrors++
        throw err
      }
    }
    return fetchWithRetry(attempt, this.#retry, {
      now: this.#now,
      onRetry: (error, n) =>
        this.#emit({
          type: 'retry',
          attempt: n,
          status: error.status,
          code: error.code,
          message: error.message,
        }),
      onRetryAfter: (retryAt) => this.#shareCooldown(retryAt),
    })
  }

  async #checkCooldown(mode: Mode): Promise<void> {
    const until = Math.max(this.#cooldownUntil, (await this.#readCooldown()) ?? 0)
    const now = this.#now()
    if (until <= now) return
    this.#emit({ type: 'cooldown', retryAt: until })
    throw new RateLimitedError(
      `${this.#endpointName()} asked clients to back off until ${new Date(until).toISOString()}; ` +
        `not calling it again before then${mode === 'refresh' ? '' : ' (no usable token is cached)'}`,
      { endpoint: this.#endpointName(), retryable: true, retryAfterMs: until - now, retryAt: until },
    )
  }

  async #shareCooldown(retryAt: number): Promise<void> {
    const until = Math.min(retryAt, this.#now() + DEFAULTS.maxCooldownMs)
    this.#cooldownUntil = Math.max(this.#cooldownUntil, until)
    this.#emit({ type: 'cooldown', retryAt: until })
    const ttl = until - this.#now()
    if (!this.#store || ttl <= 0) return
    const value = await this.#codec.encodeCooldown(until)
    await this.#storeCall('set', (s) => s.set(derivedKey.cooldown(this.key), value, ttl), undefined)
  }

  // ---- store (every call bounded, every failure degrades) -----------------------------------

  async #readToken(): Promise<TokenSet | undefined> {
    const raw = await this.#storeCall('get', (s) => s.get(this.key), undefined)
    return this.#codec.decodeToken(raw)
  }

  async #readCooldown(): Promise<number | undefined> {
    if (!this.#store) return undefined
    const raw = await this.#storeCall('get', (s) => s.get(derivedKey.cooldown(this.key)), undefined)
    const until = await this.#codec.decodeCooldown(raw)
    // A forged or absurd cooldown must not silence the fleet for long.
    return until === undefined ? undefined : Math.min(until, this.#now() + DEFAULTS.maxCooldownMs)
  }

  async #writeToken(set: TokenSet): Promise<void> {
    if (!this.#store) return
    const ttl = set.expiresAt - this.#now()
    if (ttl <= 0) return
    // Read-before-write narrows the late-writer race: a slower instance does not overwrite a newer token.
    const stored = await this.#readToken()
    if (stored && stored.issuedAt > set.issuedAt) {
      this.#adopt(stored)
      return
    }
    const value = await this.#codec.encodeToken(set)
    await this.#storeCall('set', (s) => s.set(this.key, value, ttl), undefined)
  }

  #storeSkipped(): boolean {
    return this.#storeSkipUntil > this.#now()
  }

  async #storeCall<T>(op: string, fn: (store: TokenStore) => Promise<T>, fallback: T): Promise<T> {
    const store = this.#store
    if (!store || this.#storeSkipped()) return fallback
    try {
      const result = await withTimeout(
        Promise.resolve().then(() => fn(store)),
        this.#storeTimeoutMs,
        () =>
          new StoreError(`Store ${op} took longer than storeTimeoutMs (${this.#storeTimeoutMs} ms)`, {
            operation: op,
          }),
      )
      if (this.#storeDown) {
        this.#storeDown = false
        this.#emit({ type: 'store-recovered' })
      }
      return result
    } catch (err) {
      this.#stats.storeErrors++
      this.#storeSkipUntil = this.#now() + DEFAULTS.storeRetryAfterMs
      if (!this.#storeDown) {
        // Once per outage, not once per call.
        this.#storeDown = true
        const error =
          err instanceof StoreError
            ? err
            : new StoreError(`Store ${op} failed: ${describe(err)}`, { operation: op, cause: err })
        this.#emit({ type: 'store-error', code: error.code, message: error.message })
      }
      return fallback
    }
  }

  // ---- events ------------------------------------------------------------------------------

  #emit(event: Omit<TokenEvent, 'key'>): void {
    const hook = this.#onEvent
    if (!hook) return
    try {
      hook({ key: this.key, ...event })
    } catch {
      // Observability must never break token serving.
    }
  }

  #emitError(err: unknown): void {
    if (err instanceof TokenstashError) {
      this.#emit({
        type: 'error',
        code: err.code,
        message: err.message,
        status: err instanceof TokenEndpointError ? err.status : undefined,
      })
    } else if (!(err instanceof Error && err.name === 'AbortError')) {
      this.#emit({ type: 'error', message: describe(err) })
    }
  }

  #endpointName(): string {
    return `the token endpoint of ${this.key}`
  }
}

function describe(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`.slice(0, 300)
  return String(err).slice(0, 300)
}

/** A custom TokenSource is held to the same shape as the built-in ones. */
function checkTokenSet(set: TokenSet, endpoint: string): TokenSet {
  const ok =
    set &&
    typeof set.accessToken === 'string' &&
    set.accessToken !== '' &&
    typeof set.tokenType === 'string' &&
    Number.isFinite(set.issuedAt) &&
    Number.isFinite(set.expiresAt) &&
    set.expiresAt > set.issuedAt
  if (!ok) {
    throw new TokenResponseError(
      `The token source for ${endpoint} returned a malformed TokenSet (needs accessToken, tokenType, issuedAt < expiresAt)`,
      { endpoint, reason: 'bad_token_set' },
    )
  }
  return set
}

/**
 * A two-tier token cache for one source: memory first, the shared `store` second, the token
 * endpoint last — refreshed at 75% of the lifetime, single-flight in the process, one fetch per
 * fleet through a lease in the store.
 *
 * @example
 * ```ts
 * import { createTokenProvider, cognito } from '@tokenstash/core'
 *
 * const orders = createTokenProvider({
 *   source: cognito({ domain: 'pool.auth.eu-west-1.amazoncognito.com', clientId, clientSecret, scopes: ['orders/read'] }),
 * })
 * const res = await fetch('https://orders.example.com/v1/orders', {
 *   headers: { authorization: `Bearer ${await orders.getToken()}` },
 * })
 * ```
 */
export function createTokenProvider(options: TokenProviderOptions): TokenProvider {
  return new Provider(options)
}
