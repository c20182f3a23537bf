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
 * The shared second tier. Stores speak opaque strings; the provider serialises, encrypts and
 * decides. Keys are the provider's `key` or keys derived from it as `${key}#${suffix}`; a store
 * may only add a prefix or a hash tag around them. A lease is stored as its owner string under its
 * key, so `get(leaseKey)` returns the owner of the live lease (waiters use it to know whose
 * failure counts).
 */
export interface TokenStore {
  get(key: string, options?: StoreCallOptions): Promise<string | undefined>
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

export type TokenEventType =
  | 'hit-memory'
  | 'hit-store'
  | 'fetch'
  | 'refresh'
  | 'retry'
  | 'error'
  | 'lease-wait'
  | 'cooldown'
  | 'invalidate'
  | 'store-error'
  | 'store-recovered'
  | 'auth-method-fallback'
  | 'fail-open'
  | 'skew'

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
}

export interface GetTokenOptions {
  signal?: AbortSignal
  /** Skip both tiers and ask the token endpoint (still single-flight and lease-guarded). */
  forceRefresh?: boolean
}

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
  getToken(opts?: GetTokenOptions): Promise<string>
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
  /** Drops the token; with `rejectedToken`, only if it is still the cached one (compare-and-delete). */
  invalidate(rejectedToken?: string): Promise<void>
  stats(): ProviderStats
}
