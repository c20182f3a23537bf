import { ConfigError, type TokenProvider } from '@tokenstash/core'
import { DEFAULTS } from './defaults'

/**
 * Where the warmer reports providers that failed or whose lifetime is too short for the schedule.
 *
 * @example
 * ```ts
 * createWarmer({ providers: { ordersApiToken }, intervalMs: 5 * 60_000, logger: pino() })
 * ```
 */
export interface WarmerLogger {
  /** Called with one string, on the logger (`logger.warn(text)`); never holds a token. */
  warn(message: string): void
}

/**
 * Options of {@link createWarmer}.
 *
 * @example
 * ```ts
 * const options: WarmerOptions = { providers: { ordersApiToken }, intervalMs: 5 * 60_000 }
 * ```
 */
export interface WarmerOptions {
  /**
   * Named providers, as in `m2mToken`'s `fetchData`, built with the same source, store, namespace,
   * key and policy options (refreshRatio, jitter, expirySkewMs) as the fleet's.
   */
  providers: Record<string, TokenProvider>
  /** How often the schedule runs a round, in ms: the rate of the EventBridge Scheduler schedule. */
  intervalMs: number
  /**
   * Room past the next round, in ms: a late schedule, a slow round, the token request itself.
   * Default: half of `intervalMs`.
   */
  marginMs?: number
  /** Providers warmed at the same time. Default 8. */
  concurrency?: number
  /**
   * Skip keys no instance served within this many ms (instances mark use in the store at most once
   * a minute). Default: warm every key, used or not. At most a day.
   */
  onlyIfUsedWithinMs?: number
  /** Warnings (failures, lifetimes too short for the schedule). Default `console`; `false` for none. */
  logger?: WarmerLogger | false
  /** Clock, for tests. Default `Date.now`; give it the same clock as the providers'. */
  now?: () => number
}

export interface WarmerConfig {
  providers: [string, TokenProvider][]
  intervalMs: number
  marginMs: number
  concurrency: number
  onlyIfUsedWithinMs?: number
  logger?: WarmerLogger
  now: () => number
}

const KNOWN = new Set([
  'providers',
  'intervalMs',
  'marginMs',
  'concurrency',
  'onlyIfUsedWithinMs',
  'logger',
  'now',
])

function number(
  name: string,
  value: unknown,
  { integer = false, max = Number.POSITIVE_INFINITY } = {},
): number {
  if (
    typeof value !== 'number' ||
    !Number.isFinite(value) ||
    value <= 0 ||
    value > max ||
    (integer && !Number.isInteger(value))
  ) {
    const what = integer ? 'a positive integer' : 'a positive number'
    throw new ConfigError(
      `Expected \`${name}\` to be ${what}${max < Number.POSITIVE_INFINITY ? ` up to ${max}` : ''}, got ${String(value)}`,
    )
  }
  return value
}

/** Checks every option once, at construction; a bad or unknown one throws a ConfigError naming it. */
export function warmerConfig(options: WarmerOptions): WarmerConfig {
  if (!options || typeof options !== 'object')
    throw new ConfigError('Expected an options object with `providers` and `intervalMs`')
  for (const name of Object.keys(options)) {
    if (!KNOWN.has(name)) {
      throw new ConfigError(
        `Unknown option \`${name}\` of createWarmer; expected one of ${[...KNOWN].join(', ')}`,
      )
    }
  }
  const { providers } = options
  if (!providers || typeof providers !== 'object' || Object.keys(providers).length === 0) {
    throw new ConfigError(
      'Expected `providers` to be a record of named token providers, e.g. { ordersApiToken }',
    )
  }
  for (const [name, p] of Object.entries(providers)) {
    if (!p || typeof p.ensureFresh !== 'function' || typeof p.key !== 'string') {
      throw new ConfigError(
        `Expected \`providers.${name}\` to be a provider from createTokenProvider (with ensureFresh), built like the fleet's`,
      )
    }
  }
  const intervalMs = number('intervalMs', options.intervalMs)
  const marginMs =
    options.marginMs === undefined ? intervalMs * DEFAULTS.marginRatio : number('marginMs', options.marginMs)
  const concurrency =
    options.concurrency === undefined
      ? DEFAULTS.concurrency
      : number('concurrency', options.concurrency, { integer: true })
  const onlyIfUsedWithinMs =
    options.onlyIfUsedWithinMs === undefined
      ? undefined
      : number('onlyIfUsedWithinMs', options.onlyIfUsedWithinMs, { max: DEFAULTS.maxOnlyIfUsedWithinMs })
  const { logger } = options
  if (logger !== undefined && logger !== false && typeof logger?.warn !== 'function') {
    throw new ConfigError('Expected `logger` to have a `warn` method, or to be false')
  }
  if (options.now !== undefined && typeof options.now !== 'function') {
    throw new ConfigError('Expected `now` to be a function returning epoch milliseconds')
  }
  return {
    now: options.now ?? Date.now,
    providers: Object.entries(providers),
    intervalMs,
    marginMs,
    concurrency,
    onlyIfUsedWithinMs,
    logger: logger === false ? undefined : (logger ?? console),
  }
}
