import { type Attributes, type Counter, type Histogram, type Meter, metrics } from '@opentelemetry/api'
import { ConfigError, type TokenEvent } from '@tokenstash/core'

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
   * `MeterProvider`, looked up at the first event (so a provider created at module load still
   * reports to an SDK registered afterwards, as long as that happens before the first token request).
   */
  meter?: Meter
}

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
  /** Counter: requests to the token endpoint, by `tokenstash.outcome` (success, retry, error) and `tokenstash.mode` (fetch, refresh). */
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
  /** Counter: errors reported to callers, by `error.type` (the TokenstashError code). */
  errors: 'tokenstash.errors',
  /** Counter: source events that concern how the client authenticates, by `tokenstash.event`. */
  sourceEvents: 'tokenstash.source.events',
})

/** The attribute that carries the provider's secret-free cache key. */
export const KEY_ATTRIBUTE = 'tokenstash.key'

// Errors that are not a failed request to the token endpoint: no request was made.
const NOT_A_REQUEST = new Set(['ERR_RATE_LIMITED', 'ERR_TOKEN_REJECTED'])

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

function instruments(meter: Meter): Instruments {
  const counter = (name: string, description: string, unit: string) =>
    meter.createCounter(name, { description, unit })
  const seconds = (name: string, description: string) =>
    meter.createHistogram(name, { description, unit: 's' })
  return {
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
}

function record(m: Instruments, event: TokenEvent): void {
  const base: Attributes = { [KEY_ATTRIBUTE]: event.key }
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
    case 'error': {
      const type = { 'error.type': event.code ?? '_OTHER' }
      m.errors.add(1, { ...base, ...type })
      if (!NOT_A_REQUEST.has(event.code ?? '')) {
        m.tokenRequests.add(1, { ...base, ...status, ...type, 'tokenstash.outcome': 'error' })
      }
      return
    }
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
    default:
      // An event type this version does not know (a newer core): nothing to record, nothing to break.
      return
  }
}

/**
 * An `onEvent` function for `createTokenProvider` that records OpenTelemetry metrics: token
 * requests by outcome, the time to fetch a token, hits by cache tier, lease waits, store errors
 * and timeouts, cooldowns, invalidations and errors (see {@link METRICS}). Every data point carries
 * the provider's secret-free cache key as `tokenstash.key`; events hold no token, and none is
 * recorded. An event type it does not know is ignored; a failing meter never breaks token serving
 * (the provider ignores what `onEvent` throws).
 *
 * @example
 * ```ts
 * import { createTokenProvider, cognito } from '@tokenstash/core'
 * import { otelMetrics } from '@tokenstash/otel'
 *
 * const orders = createTokenProvider({ source: cognito({ domain, clientId, clientSecret }), onEvent: otelMetrics() })
 * ```
 */
export function otelMetrics(options: OtelMetricsOptions = {}): (event: TokenEvent) => void {
  if (options === null || typeof options !== 'object') {
    throw new ConfigError(`Expected the options of \`otelMetrics\` to be an object, got ${String(options)}`)
  }
  const given = options.meter
  if (given !== undefined && (given === null || typeof given.createCounter !== 'function')) {
    throw new ConfigError('Expected `meter` to be an OpenTelemetry Meter (from meterProvider.getMeter(name))')
  }
  let m: Instruments | undefined = given ? instruments(given) : undefined
  return function onEvent(event: TokenEvent): void {
    if (!event || typeof event !== 'object' || typeof event.type !== 'string') return
    m ??= instruments(metrics.getMeter('@tokenstash/otel'))
    record(m, event)
  }
}
