import { DEFAULTS } from './defaults'
import { type EncryptionKeyInput, Keyring } from './encryption'
import { ConfigError } from './errors'
import { checkNamespace } from './key'
import { refuseUnknownOptions } from './known-options'
import { type Logger, loggerOption } from './logger'
import type { RefreshPolicy } from './policy'
import type { RetryOptions } from './retry'
import type { TokenEvent, TokenSource, TokenStore } from './types'
import { expectFunction, optionalNumber } from './validate'

/**
 * The options of {@link createTokenProvider}: a `source`, and with a shared `store` an `encryptionKey`.
 *
 * @example
 * ```ts
 * const options: TokenProviderOptions = { source: cognito({ domain, clientId, clientSecret }), store, encryptionKey }
 * ```
 */
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
  /** Retries of the token endpoint: network errors, 408, 425, 429, 5xx. Defaults in `DEFAULTS.retry`. */
  retry?: Partial<RetryOptions>
  /**
   * The fleet's lease on a fetch. `waitMs`: how long waiters wait for a holder still fetching
   * (default: the fetch budget, retry.maxElapsedMs + the source's `timeoutMs`; 25 s with the
   * defaults). `ttlMs`: how long the lease lives. With a store that has `renewLease` it is short
   * and renewed every third of it while the holder fetches (default `DEFAULTS.lease.renewedTtlMs`,
   * 5 s, at least 3 × storeTimeoutMs), so a dead or frozen holder costs its waiters at most that
   * plus one check (~1 s); without, it outlives the whole fetch (default waitMs + 5 s; 30 s).
   */
  lease?: { ttlMs?: number; waitMs?: number }
  /**
   * How far the clock of any instance sharing the store may be from true time. Tokens read from the
   * store are served until expiresAt − expirySkewMs − 2 × this; lifetimes too short for that margin
   * (under 160 s with the defaults) are not shared: each instance fetches its own, and a `skew`
   * event says so. Default 30 s; 0 when all instances share one clock.
   */
  clockSkewToleranceMs?: number
  /** Bound on every store call. Default 1000 ms. */
  storeTimeoutMs?: number
  /** Part of the cache key: separates environments or tenants sharing a store. Default 'default'. */
  namespace?: string
  /** Observability hook. Events never hold a token or a secret. A throwing hook is ignored. */
  onEvent?: (event: TokenEvent) => void
  /**
   * Where warnings go, one per degraded episode (a store outage and its recovery, keys that differ,
   * a fetch without the fleet's coordination, an auth-method fallback, a token rejected twice, a
   * quota nearly used up), never one per call and never with a secret. Default `console`; `false`
   * silences; or any object with a `warn` method (pino, Powertools `Logger`): see {@link Logger}.
   */
  logger?: Logger | false
  /** Clock, for tests. Default `Date.now`. */
  now?: () => number
  /**
   * Refresh in the background while serving the current token (default outside AWS Lambda), or inline
   * by the caller that wins the lease (default inside Lambda, where work after the response is frozen).
   */
  backgroundRefresh?: boolean
}

/** The names createTokenProvider knows; any other is a ConfigError suggesting the nearest of them. */
export const PROVIDER_OPTIONS = [
  'source',
  'store',
  'encryptionKey',
  'encryption',
  'refreshRatio',
  'expirySkewMs',
  'jitter',
  'retry',
  'lease',
  'clockSkewToleranceMs',
  'storeTimeoutMs',
  'namespace',
  'onEvent',
  'logger',
  'now',
  'backgroundRefresh',
] as const

/** How long past the fetch budget a lease outlives its holder by default. */
const LEASE_MARGIN_MS = 5_000

/** The options of createTokenProvider, checked, with every default filled in. */
export interface ProviderConfig {
  source: TokenSource
  store?: TokenStore
  keyring?: Keyring
  policy: RefreshPolicy
  /** The configured `jitter`: the fleet's earliest refresh point is issuedAt + (refreshRatio − jitter)·L. */
  jitter: number
  retry: RetryOptions
  /**
   * `holdMs`: how long a holder keeps renewing a lease (the fetch budget plus the margin, what an
   * unrenewed lease lives), so a source that hangs past its own timeout cannot hold it forever.
   */
  lease: { ttlMs: number; waitMs: number; holdMs: number }
  storeTimeoutMs: number
  /** 2 × clockSkewToleranceMs: the margin on times written by another instance's clock. */
  clockMarginMs: number
  namespace: string
  onEvent?: (event: TokenEvent) => void
  logger?: Logger
  now: () => number
  background: boolean
}

/** Checks every option once, at construction; a bad one throws a ConfigError that names it. */
export function providerConfig(options: TokenProviderOptions): ProviderConfig {
  if (!options || typeof options !== 'object')
    throw new ConfigError('Expected an options object with a `source`')
  refuseUnknownOptions('createTokenProvider', options, PROVIDER_OPTIONS)
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
      throw new ConfigError('`encryption: false` and `encryptionKey` contradict each other: pass one of them')
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
  refuseUnknownOptions('createTokenProvider `retry`', r, Object.keys(DEFAULTS.retry))
  const retry: RetryOptions = {
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
  if (retry.maxTimeoutMs < retry.minTimeoutMs) {
    throw new ConfigError(
      `Expected \`retry.maxTimeoutMs\` (${retry.maxTimeoutMs}) to be at least \`retry.minTimeoutMs\` (${retry.minTimeoutMs})`,
    )
  }
  const storeTimeoutMs = optionalNumber('storeTimeoutMs', options.storeTimeoutMs, DEFAULTS.storeTimeoutMs, {
    min: 0,
    minExclusive: true,
  })
  // The fetch budget: every attempt and wait of one fetch, plus the last request's own timeout
  // (the source's, when it says). Losers wait for a live holder that long.
  const requestMs =
    typeof source.timeoutMs === 'number' && Number.isFinite(source.timeoutMs) && source.timeoutMs > 0
      ? source.timeoutMs
      : DEFAULTS.timeoutMs
  const budget = retry.maxElapsedMs + requestMs
  const l = options.lease ?? {}
  refuseUnknownOptions('createTokenProvider `lease`', l, ['ttlMs', 'waitMs'])
  // A renewed lease only has to outlive one renewal period and its store call; a lease nobody
  // renews must outlive the holder's whole fetch.
  const renewed = typeof store?.renewLease === 'function'
  const ttlDefault = renewed
    ? Math.max(DEFAULTS.lease.renewedTtlMs, 3 * storeTimeoutMs)
    : budget + LEASE_MARGIN_MS
  const lease = {
    ttlMs: optionalNumber('lease.ttlMs', l.ttlMs, ttlDefault, { min: 0, minExclusive: true }),
    waitMs: optionalNumber('lease.waitMs', l.waitMs, budget, { min: 0 }),
    holdMs: budget + LEASE_MARGIN_MS,
  }
  const clockSkewToleranceMs = optionalNumber(
    'clockSkewToleranceMs',
    options.clockSkewToleranceMs,
    DEFAULTS.clockSkewToleranceMs,
    { min: 0 },
  )
  const policy: RefreshPolicy = {
    refreshRatio,
    // Drawn once per instance, so a fleet's refreshes spread instead of landing together.
    jitterFraction: Math.random() * jitter,
    expirySkewMs: optionalNumber('expirySkewMs', options.expirySkewMs, DEFAULTS.expirySkewMs, { min: 0 }),
  }
  if (options.backgroundRefresh !== undefined && typeof options.backgroundRefresh !== 'boolean') {
    throw new ConfigError(
      `Expected \`backgroundRefresh\` to be a boolean, got ${typeof options.backgroundRefresh}`,
    )
  }
  return {
    source,
    store,
    keyring,
    policy,
    jitter,
    retry,
    lease,
    storeTimeoutMs,
    clockMarginMs: 2 * clockSkewToleranceMs,
    namespace: checkNamespace(options.namespace ?? DEFAULTS.namespace),
    onEvent: options.onEvent === undefined ? undefined : expectFunction('onEvent', options.onEvent),
    logger: loggerOption(options.logger),
    now: options.now === undefined ? Date.now : expectFunction('now', options.now),
    background: options.backgroundRefresh ?? !process.env.AWS_LAMBDA_FUNCTION_NAME,
  }
}
