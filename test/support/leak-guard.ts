import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { type Channel, describeLeaks, type LeakGuardApi, LeakScan } from './leak-scan'
import { RESULTS_DIR } from './reliability'

// The leak guard: every file of the jest `integration` project runs under it (jest.config.js,
// `setupFilesAfterEnv`), so every CI run is a leak scan of the whole integration suite. It learns
// the secrets as the product meets them (every token core parses from a token endpoint answer and
// every token a provider serves; every client secret, private key, encryption key and proxy HMAC key
// passed to core and the proxy; every client credential the proxy reads from a request), captures
// what could carry one out (console and stdout/stderr writes of this process, every event on
// core's `tokenstash:event` channel, every line a provider hands its `logger`, every error that leaves a public API, every key and value a
// provider hands its store, every error answer of the proxy), and fails the file at its very end
// (leak-guard-environment.ts) naming the channel and where, never the secret.
//
// The APIs are wrapped where jest resolves them: `@tokenstash/*` maps to packages/*/src, and a mock
// applies to every import of that path, so the adapters' own imports of `@tokenstash/core` see the
// wrappers too; two internal modules (core's token response parser, the proxy's request classifier)
// are wrapped by path so that core's and the proxy's relative imports see them. Wrappers watch and
// return what they got: the same promise, the same object, untouched timing.

/** Where the environment (and {@link leakGuard} in leak-scan.ts) finds the guard of the file it runs. */
const GUARD = Symbol.for('tokenstash.leakGuard')

const scan = new LeakScan()

function currentTest(): string {
  return expect.getState().currentTestName ?? 'outside any test'
}

const at = (api: string) => `${api}, in "${currentTest()}"`
/** Most captures repeat a text already captured: where it came from is worked out only for new ones. */
const lazyAt = (api: string) => () => at(api)

// ---- secrets -------------------------------------------------------------------------------

function credentials(options: unknown): void {
  if (!options || typeof options !== 'object') return
  const o = options as { clientId?: unknown; clientSecret?: unknown; privateKey?: unknown }
  scan.secret(o.clientSecret, 'client secret')
  if (typeof o.clientSecret === 'string' && typeof o.clientId === 'string') {
    const basic = (id: string, secret: string) => Buffer.from(`${id}:${secret}`).toString('base64')
    scan.secret(basic(o.clientId, o.clientSecret), 'client credentials (Basic)')
    scan.secret(
      basic(encodeURIComponent(o.clientId), encodeURIComponent(o.clientSecret)),
      'client credentials (Basic)',
    )
    scan.secret(encodeURIComponent(o.clientSecret), 'client secret')
  }
  if (o.privateKey !== undefined) scan.privateKey(o.privateKey)
}

/**
 * Options whose `clientSecret` or `privateKey` is a resolver (a rotating secret), with the resolver
 * wrapped so every value it resolves is learnt as a secret before the source sees it.
 */
function resolvedCredentials(options: unknown): unknown {
  if (!options || typeof options !== 'object') return options
  const o = options as { clientId?: unknown; clientSecret?: unknown; privateKey?: unknown }
  const learnt = (resolver: Fn, field: 'clientSecret' | 'privateKey') => async () => {
    const value = await resolver()
    credentials({ clientId: o.clientId, [field]: value })
    return value
  }
  if (typeof o.clientSecret !== 'function' && typeof o.privateKey !== 'function') return options
  return {
    ...o,
    ...(typeof o.clientSecret === 'function'
      ? { clientSecret: learnt(o.clientSecret as Fn, 'clientSecret') }
      : {}),
    ...(typeof o.privateKey === 'function' ? { privateKey: learnt(o.privateKey as Fn, 'privateKey') } : {}),
  }
}

function tokenSet(set: unknown): void {
  scan.secret((set as { accessToken?: unknown } | null)?.accessToken, 'access token')
}

function tokenBody(body: unknown): void {
  if (typeof body !== 'string') return
  try {
    const json = JSON.parse(body) as Record<string, unknown>
    scan.secret(json.access_token, 'access token')
    scan.secret(json.refresh_token, 'refresh token')
    scan.secret(json.id_token, 'ID token')
  } catch {
    // Not JSON: the parser threw, and nothing in it is a token.
  }
}

// ---- wrappers ------------------------------------------------------------------------------

type Fn = (...args: unknown[]) => unknown
type Module = Record<string, unknown>

const isPromise = (v: unknown): v is Promise<unknown> =>
  Object.prototype.toString.call(v) === '[object Promise]'

/** Calls `fn`, records what it throws or rejects with, and hands `onResult` what it returns or resolves to. */
function watch(fn: Fn, api: string, onResult?: (value: unknown) => void): Fn {
  const watched = function (this: unknown, ...args: unknown[]): unknown {
    let result: unknown
    try {
      result = fn.apply(this, args)
    } catch (error) {
      scan.error(error, at(api))
      throw error
    }
    // A branch of its own: the caller gets the same promise, settled on the same tick. (The branch
    // handles the rejection, so a rejection nobody awaits is not reported as unhandled under the guard.)
    if (isPromise(result))
      result.then(
        (value) => learn(onResult, value),
        (error: unknown) => scan.error(error, at(`${api} (rejected)`)),
      )
    else learn(onResult, result)
    return result
  }
  for (const key of Reflect.ownKeys(fn))
    if (!['length', 'name', 'prototype', 'arguments', 'caller'].includes(String(key)))
      Object.defineProperty(watched, key, Object.getOwnPropertyDescriptor(fn, key)!)
  return watched
}

/** The guard must never be what fails: what it cannot read, it skips. */
function learn(onResult: ((value: unknown) => void) | undefined, value: unknown): void {
  try {
    onResult?.(value)
  } catch {
    // An exotic result; the product's behaviour is what the test checks.
  }
}

const watchedObjects = new WeakSet<object>()

/** Watches every method of `obj` in place (own and inherited), so its identity and `this` stay. */
function watchMethods(
  obj: unknown,
  api: string,
  onResult: Record<string, (value: unknown) => void> = {},
): void {
  if (!obj || typeof obj !== 'object' || !Object.isExtensible(obj) || watchedObjects.has(obj)) return
  watchedObjects.add(obj)
  const names = new Set<string>()
  for (let o: object | null = obj; o && o !== Object.prototype; o = Object.getPrototypeOf(o))
    for (const name of Object.getOwnPropertyNames(o)) if (name !== 'constructor') names.add(name)
  for (const name of names) {
    const own = Object.getOwnPropertyDescriptor(obj, name)
    if (own && !own.configurable) continue
    const value = (own ?? findDescriptor(obj, name))?.value
    if (typeof value !== 'function' || isClass(value)) continue
    Object.defineProperty(obj, name, {
      value: watch(value as Fn, `${api}.${name}()`, onResult[name]),
      writable: true,
      configurable: true,
      enumerable: own?.enumerable ?? false,
    })
  }
}

function findDescriptor(obj: object, name: string): PropertyDescriptor | undefined {
  for (let o: object | null = obj; o; o = Object.getPrototypeOf(o)) {
    const d = Object.getOwnPropertyDescriptor(o, name)
    if (d) return d
  }
  return undefined
}

const isClass = (fn: unknown) =>
  typeof fn === 'function' && /^class[\s{]/.test(Function.prototype.toString.call(fn))

/** A `then` for {@link factory}: watches the methods of what the export returned. */
const methodsOf = (api: string) => (result: unknown) => {
  watchMethods(result, api)
  return result
}

/**
 * A module's export `name`, watched; `then` sees the arguments and the result (before it is
 * returned). The secrets among the arguments are learnt first, so a construction error that
 * repeated one would be caught.
 */
function factory(
  mod: Module,
  name: string,
  api: string,
  then?: (result: unknown, args: unknown[]) => unknown,
  secrets?: (args: unknown[]) => void,
): Fn {
  const actual = mod[name] as Fn
  return watch(function (this: unknown, ...args: unknown[]) {
    secrets?.(args)
    const result = actual.apply(this, args)
    return then ? then(result, args) : result
  }, api)
}

/** A copy of `actual` with `__esModule` (the compiled imports ask for it) and the given exports replaced. */
function module(actual: Module, replaced: Module): Module {
  return Object.defineProperty({ ...actual, ...replaced }, '__esModule', { value: true })
}

/** Where each value of a store call sits in its arguments (the key is always first). */
const VALUE_ARGS: Record<string, number[]> = {
  get: [],
  set: [1],
  delete: [1],
  acquireLease: [1],
  releaseLease: [1],
}
/** Stores whose calls are recorded where they are made (ours, from their factories). */
const recordedStores = new WeakSet<object>()
/** Stores a provider with `encryption: false` uses: their values may hold tokens by design. */
const clearStores = new WeakSet<object>()

/**
 * Records every key and value passed to `store`'s methods, on `target`: the store itself (in
 * place, for the stores our factories make, whoever calls them) or a wrapper a provider gets (any
 * other TokenStore).
 */
function recordCalls(store: object, target: Record<string, unknown>): void {
  for (const [method, positions] of Object.entries(VALUE_ARGS)) {
    const fn = (store as Record<string, unknown>)[method]
    if (typeof fn !== 'function') continue
    target[method] = (...args: unknown[]) => {
      const where = () => at(`TokenStore.${method}()`)
      const values: Channel = clearStores.has(store) ? 'store value (encryption: false)' : 'store value'
      if (typeof args[0] === 'string') scan.capture('store key', args[0], where)
      for (const i of positions)
        if (typeof args[i] === 'string') scan.capture(values, args[i] as string, where)
      return (fn as Fn).apply(store, args)
    }
  }
}

/** A store made by one of our factories: its calls recorded, its methods' errors watched. */
const storeOf = (api: string) => (store: unknown) => {
  if (store && typeof store === 'object' && Object.isExtensible(store)) {
    recordCalls(store, store as Record<string, unknown>)
    recordedStores.add(store)
  }
  watchMethods(store, api)
  return store
}

/**
 * A logger given to a provider, with every line it is handed captured first (the default logger,
 * the console, is captured below with the rest of the console).
 */
function loggerOf(logger: unknown): unknown {
  if (!logger || typeof logger !== 'object') return logger
  const wrapper = Object.create(logger) as Record<string, unknown>
  for (const level of ['warn', 'error', 'info', 'debug']) {
    const fn = (logger as Record<string, unknown>)[level]
    if (typeof fn !== 'function') continue
    wrapper[level] = (...args: unknown[]) => {
      for (const arg of args)
        scan.capture(
          'logger',
          typeof arg === 'string' ? arg : (JSON.stringify(arg) ?? ''),
          at(`logger.${level}()`),
        )
      return (fn as Fn).apply(logger, args)
    }
  }
  return wrapper
}

function providerOptions(options: unknown): unknown {
  if (!options || typeof options !== 'object') return options
  const o = options as { encryptionKey?: unknown; store?: unknown; encryption?: unknown; logger?: unknown }
  scan.keyBytes(o.encryptionKey, 'encryption key')
  const logged = o.logger && typeof o.logger === 'object' ? { ...o, logger: loggerOf(o.logger) } : o
  const store = o.store
  if (!store || typeof store !== 'object') return logged
  if (o.encryption === false) clearStores.add(store)
  if (recordedStores.has(store)) return logged
  const wrapper = Object.create(store) as Record<string, unknown>
  recordCalls(store, wrapper)
  return { ...logged, store: wrapper }
}

jest.mock('../../packages/core/src/sources/token-response', () => {
  const actual = jest.requireActual('../../packages/core/src/sources/token-response') as Module
  const parse = actual.parseTokenResponse as Fn
  return module(actual, {
    parseTokenResponse: (body: unknown, ctx: unknown) => {
      tokenBody(body)
      return parse(body, ctx)
    },
  })
})

jest.mock('../../packages/proxy/src/request', () => {
  const actual = jest.requireActual('../../packages/proxy/src/request') as Module
  const classify = actual.classify as Fn
  return module(actual, {
    classify: (...args: unknown[]) => {
      const c = classify(...args) as { kind: string; secrets?: unknown[] }
      for (const s of c.secrets ?? []) scan.secret(s, 'proxy client credential')
      return c
    },
  })
})

jest.mock('@tokenstash/core', () => {
  const core = jest.requireActual('@tokenstash/core') as Module
  const source = (name: string) =>
    factory(
      core,
      name,
      `${name}()`,
      (src) => {
        watchMethods(src, `${name}() source`, { fetchToken: tokenSet })
        return src
      },
      (args) => {
        args[0] = resolvedCredentials(args[0])
        credentials(args[0])
      },
    )
  const create = core.createTokenProvider as Fn
  return module(core, {
    createTokenProvider: watch((options: unknown) => {
      const provider = create(providerOptions(options))
      watchMethods(provider, 'provider', {
        getToken: (token) => scan.secret(token, 'access token'),
        getTokenSet: tokenSet,
      })
      return provider
    }, 'createTokenProvider()'),
    clientCredentials: source('clientCredentials'),
    auth0: source('auth0'),
    cognito: source('cognito'),
    cognitoGetClientToken: source('cognitoGetClientToken'),
    memoryStore: factory(core, 'memoryStore', 'memoryStore()', storeOf('memoryStore')),
    parseTokenResponse: watch(core.parseTokenResponse as Fn, 'parseTokenResponse()', tokenSet),
  })
})

function store(actual: Module, name: string): Module {
  return module(actual, { [name]: factory(actual, name, `${name}()`, storeOf(name)) })
}
jest.mock('@tokenstash/store-redis', () => store(jest.requireActual('@tokenstash/store-redis'), 'redisStore'))
jest.mock('@tokenstash/store-dynamodb', () =>
  store(jest.requireActual('@tokenstash/store-dynamodb'), 'dynamoDbStore'),
)

jest.mock('@tokenstash/middy', () => {
  const actual = jest.requireActual('@tokenstash/middy') as Module
  return module(actual, {
    m2mToken: factory(actual, 'm2mToken', 'm2mToken()', methodsOf('m2mToken middleware')),
  })
})

jest.mock('@tokenstash/fetch', () => {
  const actual = jest.requireActual('@tokenstash/fetch') as Module
  return module(actual, {
    withToken: factory(actual, 'withToken', 'withToken()', (f) => watch(f as Fn, 'withToken() fetch')),
  })
})

interface Interceptors {
  interceptors: {
    response: { use(ok: unknown, fail: (e: unknown) => unknown): number; eject(id: number): void }
  }
}

jest.mock('@tokenstash/axios', () => {
  const actual = jest.requireActual('@tokenstash/axios') as Module
  return module(actual, {
    // Last in the chain, after attachToken's redaction: what the caller's catch gets.
    attachToken: factory(actual, 'attachToken', 'attachToken()', (eject, [instance]) => {
      const { response } = (instance as Interceptors).interceptors
      const id = response.use(undefined, (error) => {
        scan.error(error, at('axios request through attachToken()'))
        throw error
      })
      return () => {
        response.eject(id)
        ;(eject as () => void)()
      }
    }),
  })
})

jest.mock('@tokenstash/proxy', () => {
  const actual = jest.requireActual('@tokenstash/proxy') as Module
  const answer = (a: unknown) => {
    const r = a as { status?: number; statusCode?: number; body?: unknown } | undefined
    const status = r?.status ?? r?.statusCode ?? 0
    if (status >= 400 && typeof r?.body === 'string')
      scan.capture('proxy answer', r.body, at(`proxy answer ${status}`))
  }
  return module(actual, {
    createTokenProxy: factory(
      actual,
      'createTokenProxy',
      'createTokenProxy()',
      (proxy) => {
        watchMethods(proxy, 'proxy', {
          handle: answer,
          lambdaHandler: answer,
          listen: (listener) => watchMethods(listener, 'proxy listener'),
        })
        return proxy
      },
      ([options]) => {
        const o = options as { hmacKey?: unknown; encryptionKey?: unknown } | undefined
        scan.keyBytes(o?.hmacKey, 'HMAC key')
        scan.keyBytes(o?.encryptionKey, 'encryption key')
      },
    ),
  })
})

// ---- what leaves the process ---------------------------------------------------------------

const onEvent = (message: unknown) =>
  scan.capture('event', JSON.stringify(message), lazyAt('tokenstash:event'))
subscribe('tokenstash:event', onEvent)

// Console lines are read from jest's own buffer at the end (wrapping console.* would make jest
// print the wrapper as every line's origin); a console that writes straight to the streams (jest's
// verbose one-file mode) is covered by the stream capture below.
interface BufferedConsole {
  getBuffer?(): Array<{ type: string; message: string; origin: string }> | undefined
}

let consoleRead = 0

/** Captures the console lines buffered since the last call. */
function consoleLines(): void {
  const buffer = (console as BufferedConsole).getBuffer?.() ?? []
  for (const entry of buffer.slice(consoleRead)) {
    const origin = entry.origin.split('\n')[0]?.trim() ?? ''
    scan.capture('console', entry.message, `console.${entry.type} ${origin}`)
  }
  consoleRead = buffer.length
}

type Write = typeof process.stdout.write
const streams = [
  ['stdout', process.stdout],
  ['stderr', process.stderr],
] as const
const savedWrites = streams.map(([name, stream]) => {
  const original = stream.write
  stream.write = function (this: NodeJS.WriteStream, chunk: unknown, ...rest: unknown[]) {
    scan.capture(name, String(chunk), at(`process.${name}.write`))
    return (original as (...a: unknown[]) => boolean).call(this, chunk, ...rest)
  } as Write
  return [stream, original] as const
})

/** What the environment calls once the file's last hook has run. */
export interface LeakGuard extends LeakGuardApi {
  /** Stops capturing, writes the file's figures, and returns the error that fails the file, if any leaked. */
  finish(): Error | undefined
  /** Secrets known so far and items captured so far, for the guard's own test. */
  figures: LeakScan['figures']
  /** What a value is known as, if the guard learnt it as a secret, for the guard's own test. */
  kindOf: LeakScan['kindOf']
}

const guard: LeakGuard = {
  figures: () => {
    consoleLines()
    return scan.figures()
  },
  secret: (value, kind) => scan.secret(value, kind),
  kindOf: (value) => scan.kindOf(value),
  capture: (channel, text, where) => scan.capture(channel, text, at(where)),
  finish() {
    unsubscribe('tokenstash:event', onEvent)
    consoleLines()
    for (const [stream, original] of savedWrites) stream.write = original
    const testPath = expect.getState().testPath ?? 'unknown'
    const file = relative(join(RESULTS_DIR, '..', '..'), testPath)
    const leaks = scan.leaks()
    const figures = scan.figures()
    const dir = join(RESULTS_DIR, 'leak-guard')
    mkdirSync(dir, { recursive: true })
    const record = {
      file,
      at: new Date().toISOString(),
      node: process.version,
      ...figures,
      leaks: leaks.length,
    }
    writeFileSync(join(dir, `${file.replace(/[\\/]/g, '__')}.json`), `${JSON.stringify(record, null, 2)}\n`)
    if (leaks.length === 0) return undefined
    const failure = new Error(describeLeaks(file, leaks))
    // The message says where; a stack through this file would only add a code frame of the guard.
    failure.stack = failure.message
    return failure
  },
}
;(globalThis as Record<symbol, unknown>)[GUARD] = guard
