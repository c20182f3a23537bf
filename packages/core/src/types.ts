/** One access token as obtained from a token endpoint. Times are epoch milliseconds. */
export interface TokenSet {
  accessToken: string
  /** As sent by the endpoint, normally `Bearer`. */
  tokenType: string
  /** When the request for this token was sent. */
  issuedAt: number
  /** `issuedAt + expires_in`, or the JWT's `exp`, whichever is earlier. */
  expiresAt: number
  /** Granted scope, when the endpoint says. */
  scope?: string
}

/**
 * How one token is obtained: one client, one audience/scope set. `id` identifies everything that
 * changes which token comes back and holds no secret; the provider's cache key is a hash of it.
 */
export interface TokenSource {
  readonly id: string
  /** One request to the token endpoint (no retries: the provider owns retry and backoff). */
  fetchToken(signal?: AbortSignal): Promise<TokenSet>
  /**
   * Optional: the longest one `fetchToken` call may take (its own request timeout, discovery
   * included). The provider sizes its lease and its waiters' patience from it; without it,
   * `DEFAULTS.timeoutMs` is assumed.
   */
  readonly timeoutMs?: number
  /**
   * Optional: registers a listener for what the source has to report about itself (for
   * `clientCredentials`: `auth-method-fallback`), and returns a function that removes it. Events
   * carry no `key`: a source does not know the cache keys of the providers using it.
   */
  subscribe?(listener: (event: SourceEvent) => void): () => void
}

/**
 * An event a {@link TokenSource} reports: a {@link TokenEvent} without the provider's `key`.
 *
 * @example
 * ```ts
 * source.subscribe?.((e: SourceEvent) => onEvent({ key: provider.key, ...e }))
 * ```
 */
export type SourceEvent = Omit<TokenEvent, 'key'>

/**
 * What the provider passes with every store call: `signal` aborts when the provider stops waiting
 * (`storeTimeoutMs`). A store should hand it to its client (the AWS SDK's `abortSignal`) so a call
 * the provider gave up on does not land later; the provider copes with stores that ignore it.
 *
 * @example
 * ```ts
 * const opts: StoreCallOptions = { signal: AbortSignal.timeout(1_000) }
 * await store.get(key, opts)
 * ```
 */
export interface StoreCallOptions {
  signal?: AbortSignal
}

/**
 * What every HTTP token source ({@link clientCredentials}, {@link auth0}, {@link cognito},
 * {@link cognitoGetClientToken}) takes besides its own options.
 *
 * @example
 * ```ts
 * const common: HttpSourceOptions = { timeoutMs: 3_000, fetch: (url, init) => fetch(url, init) }
 * ```
 */
export interface HttpSourceOptions {
  /** Per-request timeout (token and discovery requests). Default `DEFAULTS.timeoutMs` ({@link DEFAULTS}). */
  timeoutMs?: number
  /** The fetch to use, for tests and proxies. Default the global `fetch`, looked up on every call. */
  fetch?: typeof fetch
  /** Clock for `issuedAt`, epoch ms. Default `Date.now`. */
  now?: () => number
}

/**
 * The shared second tier. Stores speak opaque strings; the provider serialises, encrypts and
 * decides. Keys are the provider's `key` or keys derived from it as `${key}#${suffix}`; a store
 * may only add a prefix or a hash tag around them. A lease is stored as its owner string under its
 * key, so `get(leaseKey)` returns the owner of the live lease (waiters use it to know whose
 * failure counts).
 */
export interface TokenStore {
  /** The stored value, or undefined when absent or expired; for a lease key, its owner. */
  get(key: string, options?: StoreCallOptions): Promise<string | undefined>
  /** Stores `value` under `key` for `ttlMs`. */
  set(key: string, value: string, ttlMs: number, options?: StoreCallOptions): Promise<void>
  /** With `expected`: deletes only if the stored value still equals it. */
  delete(key: string, expected?: string, options?: StoreCallOptions): Promise<void>
  /** Takes the lease if nobody holds an unexpired one. Resolves true for the one winner. */
  acquireLease(key: string, owner: string, ttlMs: number, options?: StoreCallOptions): Promise<boolean>
  /** Releases only a lease held by `owner`. */
  releaseLease(key: string, owner: string, options?: StoreCallOptions): Promise<void>
  /**
   * Optional: extends the lease to `ttlMs` from now only if `owner` still holds it; resolves
   * whether it did. With it the provider takes short leases and renews them while it fetches, so a
   * holder that dies or freezes costs its waiters seconds; without it leases live the whole fetch budget.
   */
  renewLease?(key: string, owner: string, ttlMs: number, options?: StoreCallOptions): Promise<boolean>
}

/**
 * A {@link TokenStore} that always has `renewLease`: what the DynamoDB and Redis stores return, so
 * that code holding one can renew a lease without checking for the method.
 *
 * @example
 * ```ts
 * const store: RenewingTokenStore = redisStore({ client })
 * await store.renewLease('ns:ab12#lease', owner, 10_000)
 * ```
 */
export interface RenewingTokenStore extends TokenStore {
  /** Extends the lease to `ttlMs` from now only while `owner` still holds it unexpired; true when it did. */
  renewLease(key: string, owner: string, ttlMs: number, options?: StoreCallOptions): Promise<boolean>
}

/** The `type` of a {@link TokenEvent}; names are part of the public API (docs/versioning.md). */
export type TokenEventType =
  | 'hit-memory'
  | 'hit-store'
  | 'fetch'
  | 'refresh'
  | 'retry'
  // One failed request to the token endpoint (retries exhausted), however many callers joined it.
  | 'fetch-error'
  | 'error'
  | 'lease-wait'
  | 'cooldown'
  | 'invalidate'
  | 'store-error'
  | 'store-recovered'
  | 'auth-method-fallback'
  | 'fail-open'
  | 'skew'
  | 'store-unreadable'
  | 'quota'

/** What the provider reports through `onEvent`. Never holds a token or a secret. */
export interface TokenEvent {
  type: TokenEventType
  /** The provider's cache key. */
  key: string
  /** Milliseconds the step took (fetch, refresh, lease-wait). */
  durationMs?: number
  /** Retry attempt number (retry). */
  attempt?: number
  /** HTTP status involved (retry, error). */
  status?: number
  /** Error code of a TokenstashError (error, retry, store-error). */
  code?: string
  /** Error message (error, retry, store-error), free of tokens and secrets. */
  message?: string
  /** Until when the token endpoint must not be called (cooldown), epoch ms. */
  retryAt?: number
  /** When the token served expires (fetch, hit-store, refresh), epoch ms. */
  expiresAt?: number
  /** The client authentication method used (auth-method-fallback). */
  authMethod?: string
  /**
   * Why (fail-open: `store-down` or `lease-wait-timeout`; skew: `short-lifetime`). A fail-open
   * event marks a token request made without the store's coordination.
   */
  reason?: string
  /** The token lifetime involved (skew), ms. */
  lifetimeMs?: number
  /**
   * quota: the requests allowed per `window` (`per_hour`, `per_day`, or the rate limit's own
   * window), how many are left, and when the count resets (epoch ms). From Auth0's
   * `Auth0-Client-Quota-Limit` / `Auth0-Organization-Quota-Limit` and `X-RateLimit-*` headers.
   */
  limit?: number
  remaining?: number
  resetAt?: number
  window?: string
}

/**
 * Why an entry of the shared store could not be opened (`store-unreadable`): `wrong-key` — it is
 * sealed with an encryption key this instance does not have (the fleet's keys differ, or a
 * rotation is half-done), or is in clear while this instance encrypts, or the reverse; `corrupt` —
 * it does not decrypt or parse; `other-key` — it was written under another cache key (copied or
 * swapped).
 *
 * @example
 * ```ts
 * onEvent: (e) => { if (e.type === 'store-unreadable' && e.reason === 'wrong-key') page('encryption keys differ') }
 * ```
 */
export type UnreadableReason = 'wrong-key' | 'corrupt' | 'other-key'

/** Per-call options of {@link TokenProvider.getToken} and {@link TokenProvider.getTokenSet}. */
export interface GetTokenOptions {
  signal?: AbortSignal
  /** Skip both tiers and ask the token endpoint (still single-flight and lease-guarded). */
  forceRefresh?: boolean
}

/**
 * Options of {@link TokenProvider.ensureFresh}: how long the shared token must stay usable, and
 * which keys count as used (the warmer's schedule).
 *
 * @example
 * ```ts
 * await provider.ensureFresh!({ until: Date.now() + 6 * 60_000, usedWithinMs: 24 * 3_600_000 })
 * ```
 */
export interface EnsureFreshOptions {
  /**
   * Epoch ms until which the shared token must stay usable and before the fleet's refresh point:
   * the earliest one any instance of the fleet computes (refreshRatio less the whole `jitter`).
   */
  until: number
  /** Do nothing for a key no instance marked as used within this many ms (instances mark at most once a minute). */
  usedWithinMs?: number
  /**
   * A key no instance marked as used within this many ms is idle: its stored token only has to stay
   * usable until `until` (no instance is there to reach a refresh point; a cold one adopts any usable
   * token). Saves token requests when nobody calls; the first instance after a quiet spell may refresh inline.
   */
  idleAfterMs?: number
  /** Abandons the store calls and the token request of this call. */
  signal?: AbortSignal
}

/**
 * What `ensureFresh` found or did. `fresh`: the stored token lasts past `until`, nothing fetched;
 * `refreshed`: this call fetched one under the lease and stored it; `adopted`: another instance
 * stored a new one meanwhile; `held`: another instance holds the lease and is fetching;
 * `unused`: no instance marked the key as used within `usedWithinMs`.
 */
export interface EnsureFreshResult {
  outcome: 'fresh' | 'refreshed' | 'adopted' | 'held' | 'unused'
  /** Expiry of the token now stored (fresh, refreshed, adopted). */
  expiresAt?: number
  /** The fleet's earliest refresh point of that token: later than `until` unless the lifetime is too short. */
  refreshAt?: number
  /** When an instance last marked the key as used (unused). */
  usedAt?: number
  /** The key counted as idle (see `idleAfterMs`): the token was kept usable, not before the refresh point. */
  idle?: boolean
}

/** Counters of one provider since it was created, from {@link TokenProvider.stats}. */
export interface ProviderStats {
  l1Hits: number
  l2Hits: number
  /** Requests sent to the token endpoint, retries included. */
  fetches: number
  fetchErrors: number
  leaseWaits: number
  storeErrors: number
}

/** What `createTokenProvider` returns; adapters (middy, axios) accept any object of this shape. */
export interface TokenProvider {
  /** Secret-free cache key: `${namespace}:${hash of the source identity}`. */
  readonly key: string
  /** The access token: from memory, the shared store, or the token endpoint (once per lifetime for the fleet). */
  getToken(opts?: GetTokenOptions): Promise<string>
  /** Like `getToken()`, with the token type, scope and the issue and expiry times. */
  getTokenSet(opts?: GetTokenOptions): Promise<TokenSet>
  /**
   * The token set held in memory if it is fresh (before refreshAt), counted as a memory hit;
   * otherwise `undefined`, and nothing starts: call `getTokenSet()`, which refreshes. Synchronous,
   * for servers answering many requests a second. Optional for other providers.
   *
   * @example
   * ```ts
   * const set = provider.peekTokenSet?.() ?? (await provider.getTokenSet())
   * ```
   */
  peekTokenSet?(): TokenSet | undefined
  /**
   * Makes sure the token in the shared store stays usable, and before the fleet's refresh point,
   * until `until`; if not, refreshes it under the fleet's lease (what a scheduled warmer calls).
   * Honours cooldowns (RateLimitedError). Optional for other providers.
   *
   * @example
   * ```ts
   * const { outcome } = await provider.ensureFresh!({ until: Date.now() + 6 * 60_000 })
   * ```
   */
  ensureFresh?(opts: EnsureFreshOptions): Promise<EnsureFreshResult>
  /** Drops the token; with `rejectedToken`, only if it is still the cached one (compare-and-delete). */
  invalidate(rejectedToken?: string): Promise<void>
  /** Counters since the provider was created (hits per tier, token requests, lease waits…). */
  stats(): ProviderStats
}
