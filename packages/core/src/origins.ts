import { debuglog } from 'node:util'
import { ConfigError } from './errors'
import { show } from './validate'

// What the adapters (axios, fetch) share about `origins`: how an entry is read, and the debug line
// for a request that got no token because its origin is not listed (silent until now: a user who
// forgot an origin only saw 401s).

/**
 * The origin `entry` names, normalised as the URL standard does (`https://API.example.com:443/` →
 * `https://api.example.com`), or `undefined` when it is not an http(s) origin alone: a path, query,
 * fragment or user would suggest the token is scoped to it, and it is not.
 *
 * @example
 * ```ts
 * bareOrigin('https://api.example.com:443') // 'https://api.example.com'
 * bareOrigin('https://api.example.com/v1')  // undefined
 * ```
 */
export function bareOrigin(entry: unknown): string | undefined {
  if (typeof entry !== 'string' || !/^https?:\/\/[^/?#]+\/?$/i.test(entry)) return undefined
  try {
    const url = new URL(entry)
    return url.username || url.password ? undefined : url.origin
  } catch {
    return undefined
  }
}

/**
 * The adapters' `origins` option, checked: a non-empty array of http(s) origins, as the set of their
 * normalised forms (see {@link bareOrigin}). Throws a `ConfigError` that names the bad entry;
 * `note` is added to the message for a missing or empty list (say why there is no default).
 *
 * @example
 * ```ts
 * allowedOriginSet(['https://API.example.com:443']) // Set { 'https://api.example.com' }
 * allowedOriginSet(['https://api.example.com/v1'])  // throws ConfigError: `origins[0]` ... got "https://api.example.com/v1"
 * ```
 */
export function allowedOriginSet(origins: unknown, note = ''): ReadonlySet<string> {
  if (!Array.isArray(origins) || origins.length === 0) {
    throw new ConfigError(
      `Expected \`origins\` to be a non-empty array of origins like "https://api.example.com"${note}, got ${show(origins)}`,
    )
  }
  return new Set(
    origins.map((entry, i) => {
      const origin = bareOrigin(entry)
      // A path would suggest the token is scoped to it; it is not, so say so rather than ignore it.
      if (!origin) {
        throw new ConfigError(
          `Expected \`origins[${i}]\` to be an http(s) origin like "https://api.example.com", got ${show(entry)}`,
        )
      }
      return origin
    }),
  )
}

/**
 * What the adapters write to: any logger with a `debug(message)` method (console, pino, Powertools).
 *
 * @example
 * ```ts
 * const logger: DebugLogger = pino({ level: 'debug' })
 * ```
 */
export interface DebugLogger {
  /** Called with one string, on the logger (`logger.debug(text)`); never holds a token. */
  debug?(message: string): unknown
}

// Remembered origins, so that a client calling many hosts cannot grow this without bound.
const MAX_ORIGINS = 1_000

/**
 * The adapters' `logger` option, checked, as a function that writes "no token for this origin"
 * once per origin. Left out: Node's `util.debuglog('tokenstash')`, silent unless the process runs
 * with `NODE_DEBUG=tokenstash`; `false`: nothing; a logger: its `debug` method, called on it with
 * one string (console, pino and Powertools' Logger all take that).
 *
 * @example
 * ```ts
 * const withheld = withheldTokenLog(options.logger, '@tokenstash/fetch', origins)
 * withheld('https://other.example.com') // once: "@tokenstash/fetch: no token sent to https://other.example.com ..."
 * ```
 */
export function withheldTokenLog(
  logger: unknown,
  adapter: string,
  origins: ReadonlySet<string>,
): (origin: string) => void {
  let write: ((message: string) => void) | undefined
  if (logger === undefined) write = debuglog('tokenstash')
  else if (logger === false) return () => {}
  else if (logger !== null && typeof logger === 'object') {
    const debug = (logger as DebugLogger).debug
    if (debug !== undefined && typeof debug !== 'function') {
      throw new ConfigError('Expected `logger.debug` to be a function (console, pino, a Powertools Logger)')
    }
    write = debug ? (message) => debug.call(logger, message) : undefined
  } else {
    throw new ConfigError(
      'Expected `logger` to be false or an object with a `debug` method: console, pino, a Powertools Logger',
    )
  }
  const seen = new Set<string>()
  const allowed = [...origins].join(', ')
  return (origin) => {
    if (!write || seen.has(origin) || seen.size >= MAX_ORIGINS) return
    seen.add(origin)
    write(
      `${adapter}: no token sent to ${origin.slice(0, 200)}: not in \`origins\` (${allowed}); ` +
        'add it there if it should get one (logged once per origin)',
    )
  }
}
