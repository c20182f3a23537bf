import {
  type Attributes,
  type Counter,
  type Histogram,
  type Meter,
  type MeterProvider,
  metrics,
} from '@opentelemetry/api'
import { ConfigError, refuseUnknownOptions, type TokenEvent } from '@tokenstash/core'

/**
 * Options of {@link otelMetrics}.
 *
 * @example
 * ```ts
 * const options: OtelMetricsOptions = { meter: meterProvider.getMeter('orders-service') }
 * ```
 */
export interface OtelMetricsOptions {
  /**
   * The meter the instruments are created on. Default: `@tokenstash/otel`'s meter from the global
   * `MeterProvider`, looked up again whenever the global provider changes: a provider created at
   * module load reports to an SDK registered afterwards, from its first event after the registration.
   */
  meter?: Meter
  /**
   * A small name of your choosing added to every data point as `tokenstash.label` (e.g. the API the
   * provider's tokens are for: `'orders'`), to tell providers of one namespace apart without one
   * series per key. Default: none.
   */
  label?: string
  /**
   * Adds the provider's cache key (`tokenstash.key`) to every data point: one series per key and
   * instrument. Default `false`. The SDK keeps 2,000 series per instrument by default and merges
   * the rest into one overflow series, so leave it off past a few hundred providers per process.
   */
  perKey?: boolean
}

/**
 * The defaults of {@link otelMetrics}: data points carry the namespace (and a label if given), not
 * the key, so the series count does not grow with the number of providers.
 *
 * @example
 * ```ts
 * const onEvent = otelMetrics({ perKey: DEFAULTS.perKey })
 * ```
 */
export const DEFAULTS = Object.freeze({ perKey: false })

const OPTIONS = ['meter', 'label', 'perKey'] as const

/**
 * Names of the instruments and attributes `otelMetrics` records. OpenTelemetry has no semantic
 * conventions for token caches, so the instruments live under `tokenstash.`; where a convention
 * exists it is used: `error.type` for what went wrong, `http.response.status_code` for the token
 * endpoint's status, seconds for durations.
 *
 * @example
 * ```ts
 * const hits = exported.find((m) => m.descriptor.name === METRICS.hits)
 * ```
 */
export const METRICS = Object.freeze({
  /**
   * Counter: requests to the token endpoint, by `tokenstash.outcome` (success, retry, error) and
   * `tokenstash.mode` (fetch, refresh). A failed request counts once, however many callers joined it;
   * instances that got the failure through the store made no request and count nothing here.
   */
  tokenRequests: 'tokenstash.token.requests',
  /** Histogram, seconds: how long obtaining a token from the endpoint took (retries included), by `tokenstash.mode`. */
  fetchDuration: 'tokenstash.token.fetch.duration',
  /** Counter: tokens served from a cache tier, by `tokenstash.cache.tier` (memory, store). */
  hits: 'tokenstash.cache.hits',
  /** Counter: waits for another instance's token after losing the lease, by `tokenstash.outcome` (adopted, timed_out). */
  leaseWaits: 'tokenstash.lease.waits',
  /** Histogram, seconds: how long those waits took. */
  leaseWaitDuration: 'tokenstash.lease.wait.duration',
  /** Counter: store outages (one per outage, not per call), by `error.type` (`timeout` or the error code). */
  storeErrors: 'tokenstash.store.errors',
  /** Counter: the store answering again after an outage. */
  storeRecoveries: 'tokenstash.store.recoveries',
  /** Counter: cooldowns entered or met (the token endpoint asked clients to back off). */
  cooldowns: 'tokenstash.cooldowns',
  /** Counter: tokens invalidated (an API rejected them). */
  invalidations: 'tokenstash.invalidations',
  /** Counter: errors reported to callers, one per caller, by `error.type` (the TokenstashError code). */
  errors: 'tokenstash.errors',
  /** Counter: source events that concern how the client authenticates, by `tokenstash.event`. */
  sourceEvents: 'tokenstash.source.events',
  /**
   * Gauge: what the identity provider says is left of its quota or rate limit (Auth0's quota and
   * `X-RateLimit-*` headers), by `tokenstash.quota.window` (e.g. `per_hour`), the latest report.
   */
  quotaRemaining: 'tokenstash.quota.remaining',
  /** Gauge: the quota or rate limit itself, by `tokenstash.quota.window`. */
  quotaLimit: 'tokenstash.quota.limit',
})

/** The attribute that carries the provider's secret-free cache key (only with `perKey: true`). */
export const KEY_ATTRIBUTE = 'tokenstash.key'
/** The attribute that carries the provider's namespace (the part of its key before `:`). */
export const NAMESPACE_ATTRIBUTE = 'tokenstash.namespace'
/** The attribute that carries the `label` option. */
export const LABEL_ATTRIBUTE = 'tokenstash.label'

interface Instruments {
  tokenRequests: Counter
  fetchDuration: Histogram
  hits: Counter
  leaseWaits: Counter
  leaseWaitDuration: Histogram
  storeErrors: Counter
  storeRecoveries: Counter
  cooldowns: Counter
  invalidations: Counter
  errors: Counter
  sourceEvents: Counter
}

/** The latest quota report per attribute set, read by the gauges' callbacks at each collection. */
type Quotas = Map<string, { attributes: Attributes; limit?: number; remaining?: number }>

function instruments(meter: Meter, quotas: Quotas): Instruments {
  const counter = (name: string, description: string, unit: string) =>
    meter.createCounter(name, { description, unit })
  const seconds = (name: string, description: string) =>
    meter.createHistogram(name, { description, unit: 's' })
  const m: Instruments = {
    tokenRequests: counter(METRICS.tokenRequests, 'Requests to the token endpoint', '{request}'),
    fetchDuration: seconds(METRICS.fetchDuration, 'Time to obtain a token from the token endpoint'),
    hits: counter(METRICS.hits, 'Tokens served from a cache tier', '{hit}'),
    leaseWaits: counter(METRICS.leaseWaits, "Waits for another instance's token", '{wait}'),
    leaseWaitDuration: seconds(METRICS.leaseWaitDuration, "Time spent waiting for another instance's token"),
    storeErrors: counter(METRICS.storeErrors, 'Shared store outages', '{error}'),
    storeRecoveries: counter(
      METRICS.storeRecoveries,
      'Shared store recoveries after an outage',
      '{recovery}',
    ),
    cooldowns: counter(METRICS.cooldowns, 'Back-offs asked for by the token endpoint', '{cooldown}'),
    invalidations: counter(METRICS.invalidations, 'Tokens invalidated after an API rejected them', '{token}'),
    errors: counter(METRICS.errors, 'Errors reported to callers', '{error}'),
    sourceEvents: counter(METRICS.sourceEvents, 'Notices from token sources', '{event}'),
  }
  for (const field of ['remaining', 'limit'] as const) {
    const name = field === 'remaining' ? METRICS.quotaRemaining : METRICS.quotaLimit
    const description =
      field === 'remaining' ? 'Quota left at the identity provider' : 'Quota at the identity provider'
    meter.createObservableGauge(name, { description, unit: '{request}' }).addCallback((result) => {
      for (const q of quotas.values()) {
        const value = q[field]
        if (value !== undefined) result.observe(value, q.attributes)
      }
    })
  }
  return m
}

function finite(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined
}

function record(m: Instruments, quotas: Quotas, base: Attributes, event: TokenEvent): void {
  const status = typeof event.status === 'number' ? { 'http.response.status_code': event.status } : {}
  switch (event.type as string) {
    case 'fetch':
    case 'refresh': {
      const mode = { ...base, 'tokenstash.mode': event.type }
      m.tokenRequests.add(1, { ...mode, 'tokenstash.outcome': 'success' })
      if (typeof event.durationMs === 'number') m.fetchDuration.record(event.durationMs / 1000, mode)
      return
    }
    case 'retry':
      m.tokenRequests.add(1, {
        ...base,
        ...status,
        'tokenstash.outcome': 'retry',
        ...(event.code ? { 'error.type': event.code } : {}),
      })
      return
    case 'fetch-error':
      m.tokenRequests.add(1, {
        ...base,
        ...status,
        'error.type': event.code ?? '_OTHER',
        'tokenstash.outcome': 'error',
      })
      return
    case 'error':
      // Callers' failures: one per caller, whether or not a request was made for it.
      m.errors.add(1, { ...base, 'error.type': event.code ?? '_OTHER' })
      return
    case 'hit-memory':
      m.hits.add(1, { ...base, 'tokenstash.cache.tier': 'memory' })
      return
    case 'hit-store':
      m.hits.add(1, { ...base, 'tokenstash.cache.tier': 'store' })
      return
    case 'lease-wait': {
      const outcome = {
        ...base,
        'tokenstash.outcome': event.expiresAt === undefined ? 'timed_out' : 'adopted',
      }
      m.leaseWaits.add(1, outcome)
      if (typeof event.durationMs === 'number') m.leaseWaitDuration.record(event.durationMs / 1000, outcome)
      return
    }
    case 'store-error': {
      // The provider words a store call past storeTimeoutMs this way; every other failure has its code.
      const timeout = event.message?.includes('storeTimeoutMs') === true
      m.storeErrors.add(1, { ...base, 'error.type': timeout ? 'timeout' : (event.code ?? '_OTHER') })
      return
    }
    case 'store-recovered':
      m.storeRecoveries.add(1, base)
      return
    case 'cooldown':
      m.cooldowns.add(1, base)
      return
    case 'invalidate':
      m.invalidations.add(1, base)
      return
    case 'auth-method-fallback':
      m.sourceEvents.add(1, { ...base, 'tokenstash.event': event.type })
      return
    case 'quota': {
      const q = event as TokenEvent & { limit?: unknown; remaining?: unknown; window?: unknown }
      const window = typeof q.window === 'string' ? q.window.slice(0, 32) : 'unknown'
      const attributes = { ...base, 'tokenstash.quota.window': window }
      quotas.set(JSON.stringify(attributes), {
        attributes,
        limit: finite(q.limit),
        remaining: finite(q.remaining),
      })
      return
    }
    default:
      // An event type this version does not know (a newer core): nothing to record, nothing to break.
      return
  }
}

/**
 * An `onEvent` function for `createTokenProvider` that records OpenTelemetry metrics: token
 * requests by outcome, the time to fetch a token, hits by cache tier, lease waits, store errors
 * and timeouts, cooldowns, invalidations, callers' errors and the identity provider's quota (see
 * {@link METRICS}). Data points carry the provider's namespace (`tokenstash.namespace`), the
 * `label` if given, and its secret-free cache key only with `perKey: true`; events hold no token,
 * and none is recorded. An event type it does not know is ignored; a failing meter never breaks
 * token serving (the provider ignores what `onEvent` throws).
 *
 * @example
 * ```ts
 * import { createTokenProvider, cognito } from '@tokenstash/core'
 * import { otelMetrics } from '@tokenstash/otel'
 *
 * const orders = createTokenProvider({ source: cognito({ domain, clientId, clientSecret }), onEvent: otelMetrics({ label: 'orders' }) })
 * ```
 */
export function otelMetrics(options: OtelMetricsOptions = {}): (event: TokenEvent) => void {
  if (options === null || typeof options !== 'object') {
    throw new ConfigError(`Expected the options of \`otelMetrics\` to be an object, got ${String(options)}`)
  }
  refuseUnknownOptions('otelMetrics', options, OPTIONS)
  const given = options.meter
  if (given !== undefined && (given === null || typeof given.createCounter !== 'function')) {
    throw new ConfigError('Expected `meter` to be an OpenTelemetry Meter (from meterProvider.getMeter(name))')
  }
  const { label, perKey = DEFAULTS.perKey } = options
  if (label !== undefined && (typeof label !== 'string' || label.length === 0 || label.length > 64)) {
    throw new ConfigError(
      'Expected `label` to be a string of 1-64 characters (a name, not a value per request)',
    )
  }
  if (typeof perKey !== 'boolean')
    throw new ConfigError(`Expected \`perKey\` to be a boolean, got ${typeof perKey}`)
  const quotas: Quotas = new Map()
  let m: Instruments | undefined = given ? instruments(given, quotas) : undefined
  // The global MeterProvider this function's instruments were made on: instruments of the no-op
  // provider (before the SDK is registered) record nothing, so they are made again once it changes.
  let from: MeterProvider | undefined
  return function onEvent(event: TokenEvent): void {
    if (!event || typeof event !== 'object' || typeof event.type !== 'string') return
    if (!given) {
      const global = metrics.getMeterProvider()
      if (global !== from) {
        from = global
        m = instruments(global.getMeter('@tokenstash/otel'), quotas)
      }
    }
    const key = typeof event.key === 'string' ? event.key : ''
    const base: Attributes = { [NAMESPACE_ATTRIBUTE]: key.slice(0, Math.max(0, key.lastIndexOf(':'))) }
    if (label !== undefined) base[LABEL_ATTRIBUTE] = label
    if (perKey) base[KEY_ATTRIBUTE] = key
    record(m!, quotas, base, event)
  }
}
