import { ConfigError } from './errors'
import type { TokenEvent } from './types'

// A misconfigured fleet degrades quietly: a store that is down, keys that differ, a lease nobody
// can take all still serve tokens, one request per container, and the bill is the first sign.
// The provider's events say all of it; this turns them into log lines a person reads, once per
// episode (the first failure of an outage, then its recovery), never once per call.

/**
 * Where a provider writes its warnings. Each method is called with ONE argument, a string, so
 * loggers whose argument orders differ all fit without an adapter: `console` (`...args`), pino
 * (`(obj, msg)` or `(msg)`), Powertools for AWS Lambda's `Logger` (`(msg, ...extra)`), winston,
 * bunyan. Methods are called on the logger (`logger.warn(text)`), so class-based loggers keep
 * their `this`. `warn` is required; without `error` errors go to `warn`, without `info` recoveries
 * go to `warn`, without `debug` debug lines are dropped. No line ever holds a token, a secret or a
 * key's bytes.
 *
 * @example
 * ```ts
 * import { Logger } from '@aws-lambda-powertools/logger'
 * import pino from 'pino'
 *
 * createTokenProvider({ source, logger: new Logger({ serviceName: 'orders' }) })
 * createTokenProvider({ source, logger: pino() })
 * createTokenProvider({ source, logger: console }) // the default
 * createTokenProvider({ source, logger: false })   // silent; events still reach onEvent
 * ```
 */
export interface Logger {
  /** A degraded episode began (a store outage, a fail-open, unreadable entries): one line per episode. */
  warn(message: string): unknown
  /** Token requests that fail; without it they go to `warn`. */
  error?(message: string): unknown
  /** An episode's recovery (the store answers again); without it recoveries go to `warn`. */
  info?(message: string): unknown
  /** Detail nobody is paged for; without it these lines are dropped. */
  debug?(message: string): unknown
}

/**
 * The `logger` option, checked: the console when left out, nothing for `false`.
 *
 * @example
 * ```ts
 * loggerOption(undefined) // console
 * ```
 */
export function loggerOption(value: unknown): Logger | undefined {
  if (value === undefined) return console
  if (value === false) return undefined
  const methods = ['warn', 'error', 'info', 'debug'] as const
  if (
    !value ||
    typeof value !== 'object' ||
    typeof (value as Logger).warn !== 'function' ||
    methods.some((m) => (value as Logger)[m] !== undefined && typeof (value as Logger)[m] !== 'function')
  ) {
    throw new ConfigError(
      'Expected `logger` to be false or an object with a `warn` method (and optionally error, info, debug): console, pino, a Powertools Logger',
    )
  }
  return value as Logger
}

type Level = 'warn' | 'error' | 'info' | 'debug'

const UNREADABLE: Record<string, string> = {
  'wrong-key':
    "cannot be opened with this instance's `encryptionKey`: the fleet's encryption keys differ, or a key rotation is half-done " +
    '(give every instance the new key first in a list with the old one after it, then drop the old one) — or one side runs with `encryption: false`',
  corrupt: 'is corrupt (altered, truncated, or written by something other than tokenstash)',
  'other-key': 'was written under another cache key (copied or swapped between keys): it is ignored',
}

/**
 * One provider's warnings, derived from its events. Each kind of trouble is one episode: warned
 * once when it starts, and (for the store) once more when it ends. Packages that run many
 * providers over one store (the proxy: one per client key) give them `logger: false` and feed
 * their events to one EventLogger, so an outage is one line for all keys, not one per key; a line
 * names the key of the event that started it (an event's own `key`, else the constructor's).
 *
 * @example
 * ```ts
 * const log = new EventLogger(console, provider.key)
 * log.handle({ type: 'store-error', message: 'Store get failed: ECONNREFUSED' })
 * ```
 */
export class EventLogger {
  readonly #logger: Logger
  readonly #key: string | (() => string) | undefined
  #storeDown = false
  readonly #failOpen = new Set<string>()
  readonly #unreadable = new Set<string>()
  #fallbackWarned = false
  #skewWarned = false
  #rejectedWarned = false
  /** The key of the event being handled: the one its line names. */
  #eventKey: string | undefined
  /** Per quota window: the remaining count seen last, while it is below 10 % (warned). */
  readonly #lowQuota = new Map<string, number>()

  /** `key` names lines whose event has none; a function is called only when such a line is written. */
  constructor(logger: Logger, key?: string | (() => string)) {
    this.#logger = logger
    this.#key = key
  }

  /** Turns one event into a line when it starts (or, for the store, ends) an episode; else nothing. */
  handle(event: Omit<TokenEvent, 'key'> & { key?: string }): undefined {
    this.#eventKey = event.key
    switch (event.type) {
      case 'store-error':
        if (this.#storeDown) return
        this.#storeDown = true
        return this.#write(
          'warn',
          `the shared store is failing (${event.message ?? 'no reason given'}); serving from memory and fetching tokens directly, ` +
            'each container on its own, until it answers again',
        )
      case 'store-recovered':
        this.#failOpen.clear()
        if (!this.#storeDown) return
        this.#storeDown = false
        return this.#write('info', 'the shared store answers again; tokens are shared through it again')
      case 'fail-open': {
        const reason = event.reason ?? 'unknown'
        // A store outage already said that tokens are fetched without it.
        if ((reason === 'store-down' && this.#storeDown) || this.#failOpen.has(reason)) return
        this.#failOpen.add(reason)
        return this.#write(
          'warn',
          reason === 'lease-wait-timeout'
            ? "fetched a token without the fleet's coordination: the instance holding the lease neither wrote a token nor released it within `lease.waitMs` (a frozen or slow holder); this costs a token request per waiting instance"
            : `fetched a token without the fleet's coordination (${reason}): the shared store could not take a lease; this costs a token request per instance`,
        )
      }
      case 'store-unreadable': {
        const reason = event.reason ?? 'corrupt'
        if (this.#unreadable.has(reason)) return
        this.#unreadable.add(reason)
        // A store that says why it could not interpret an entry (StoreEntryUnreadableError) is quoted.
        const why = typeof event.message === 'string' ? ` (${event.message})` : ''
        return this.#write(
          'warn',
          `an entry in the shared store ${UNREADABLE[reason] ?? UNREADABLE.corrupt}${why}; it counts as a miss, so this instance fetches its own tokens`,
        )
      }
      case 'hit-store':
        this.#unreadable.clear()
        this.#failOpen.clear()
        return
      case 'lease-wait':
        if (event.expiresAt !== undefined) this.#failOpen.clear()
        return
      case 'auth-method-fallback':
        if (this.#fallbackWarned) return
        this.#fallbackWarned = true
        return this.#write('warn', event.message ?? `using client authentication method ${event.authMethod}`)
      case 'error':
        if (event.code !== 'ERR_TOKEN_REJECTED' || this.#rejectedWarned) return
        this.#rejectedWarned = true
        return this.#write(
          'error',
          'a token was rejected twice in a row (the replacement of a rejected token was rejected too); ' +
            'not fetching in a loop. Check that the audience, scope and issuer match what the API expects',
        )
      case 'refresh':
        // A token lived to its refresh: nothing rejected it.
        this.#rejectedWarned = false
        return
      case 'quota':
        return this.#quota(event)
      case 'skew':
        // The provider emits it once: tokens too short to share under the skew tolerance.
        if (this.#skewWarned) return
        this.#skewWarned = true
        return this.#write(
          'warn',
          `${event.message ?? 'tokens live too short to share under clockSkewToleranceMs'}. This costs a token request per ` +
            "instance per lifetime; if the fleet's clocks agree more closely (NTP, one host), lower clockSkewToleranceMs",
        )
    }
  }

  #quota(event: Omit<TokenEvent, 'key'>): undefined {
    const { limit, remaining, window = 'unknown' } = event
    if (typeof limit !== 'number' || typeof remaining !== 'number' || limit <= 0) return
    const last = this.#lowQuota.get(window)
    if (remaining >= limit / 10 || (last !== undefined && remaining > last)) this.#lowQuota.delete(window)
    if (remaining >= limit / 10) return
    const warned = this.#lowQuota.has(window)
    this.#lowQuota.set(window, remaining)
    if (warned) return
    const reset = event.resetAt === undefined ? '' : ` (resets ${new Date(event.resetAt).toISOString()})`
    this.#write(
      'warn',
      `the identity provider's token quota is nearly used up: ${remaining} of ${limit} token requests left (${window})${reset}`,
    )
  }

  #write(level: Level, text: string): undefined {
    const logger = this.#logger
    const own = this.#key
    const key = this.#eventKey ?? (typeof own === 'function' ? own() : own)
    const line = `tokenstash: ${text}${key === undefined ? '' : ` [key ${key}]`}`
    try {
      if (level === 'debug') logger.debug?.(line)
      else if (level === 'warn' || !logger[level]) logger.warn(line)
      else logger[level]!(line)
    } catch {
      // A broken logger must never break token serving.
    }
  }
}
