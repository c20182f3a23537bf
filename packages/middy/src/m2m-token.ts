import type { MiddlewareObj, Request } from '@middy/core'
import { ConfigError, refuseUnknownOptions, type TokenProvider, TokenstashError } from '@tokenstash/core'
import type { Context } from 'aws-lambda'
import { DEFAULTS } from './defaults'
import { TokenUnavailableError } from './errors'

/**
 * Options of {@link m2mToken}; the names follow `@middy/secrets-manager`.
 *
 * @example
 * ```ts
 * const options: M2mTokenOptions<'ordersApiToken'> = { fetchData: { ordersApiToken }, remainingTimeMarginMs: 1_000 }
 * ```
 */
export interface M2mTokenOptions<TName extends string = string> {
  /**
   * Name → provider. Each name becomes `context[name]` (with `setToContext`) and
   * `request.internal[name]` (for Middy's `getInternal`), holding the bearer string.
   */
  fetchData: Record<TName, TokenProvider>
  /** Put each token on the Lambda context under its name. Default `true`. */
  setToContext?: boolean
  /** Do not ask for tokens when the middleware is created (cold start), only on the first invocation. Default `false`. */
  disablePrefetch?: boolean
  /**
   * Stop waiting for tokens this many ms before `context.getRemainingTimeInMillis()` runs out and
   * fail with {@link TokenUnavailableError}, so a slow identity provider cannot eat the function's
   * timeout. `false` waits as long as the provider does. Without `getRemainingTimeInMillis` on the
   * context (local runs) there is no cap. Default `500`.
   */
  remainingTimeMarginMs?: number | false
}

/**
 * What the middleware adds to `request.internal`: one bearer string per `fetchData` name.
 *
 * @example
 * ```ts
 * const signer: middy.MiddlewareObj<unknown, unknown, Error, Context, M2mTokenInternal<'ordersApiToken'>> = {
 *   before: async (request) => { sign(request.internal.ordersApiToken) },
 * }
 * ```
 */
export type M2mTokenInternal<TName extends string> = { [K in TName]: string }

/**
 * The Lambda context as the handler sees it with `setToContext`: one bearer string per name.
 *
 * @example
 * ```ts
 * async function listOrders(context: M2mTokenContext<'ordersApiToken'>) {
 *   return fetch(url, { headers: { authorization: `Bearer ${context.ordersApiToken}` } })
 * }
 * ```
 */
export type M2mTokenContext<TName extends string> = Context & { [K in TName]: string }

type AnyRequest = Request<unknown, unknown, Error, Context, Record<string, unknown>>

const OPTION_NAMES: ReadonlySet<string> = new Set([
  'fetchData',
  'setToContext',
  'disablePrefetch',
  'remainingTimeMarginMs',
])

// Names that would shadow what the Lambda runtime puts on the context.
const CONTEXT_NAMES: ReadonlySet<string> = new Set([
  'callbackWaitsForEmptyEventLoop',
  'functionName',
  'functionVersion',
  'invokedFunctionArn',
  'memoryLimitInMB',
  'awsRequestId',
  'logGroupName',
  'logStreamName',
  'identity',
  'clientContext',
  'tenantId',
  'getRemainingTimeInMillis',
  'done',
  'fail',
  'succeed',
])

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/

// Marks a token not yet received when the warm-path check runs.
const PENDING: unique symbol = Symbol('pending')

const noop = () => {}

function show(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'object') return 'an object'
  if (typeof value === 'function') return 'a function'
  if (typeof value === 'string') return JSON.stringify(value)
  return String(value)
}

interface Parsed {
  names: string[]
  providers: TokenProvider[]
  setToContext: boolean
  disablePrefetch: boolean
  marginMs: number | false
}

function parseOptions(options: unknown): Parsed {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new ConfigError(`Expected the m2mToken options to be an object, got ${show(options)}`)
  }
  const opts = options as Record<string, unknown>
  refuseUnknownOptions('m2mToken', opts, [...OPTION_NAMES])
  const { fetchData, setToContext = DEFAULTS.setToContext, disablePrefetch = DEFAULTS.disablePrefetch } = opts
  const marginMs =
    opts.remainingTimeMarginMs === undefined ? DEFAULTS.remainingTimeMarginMs : opts.remainingTimeMarginMs

  if (fetchData === null || typeof fetchData !== 'object' || Array.isArray(fetchData)) {
    throw new ConfigError(
      `Expected \`fetchData\` to be an object of name → TokenProvider, got ${show(fetchData)}`,
    )
  }
  const names = Object.keys(fetchData)
  if (names.length === 0)
    throw new ConfigError('Expected `fetchData` to name at least one TokenProvider, got an empty object')
  const providers: TokenProvider[] = []
  for (const name of names) {
    if (!IDENTIFIER.test(name) || name in Object.prototype) {
      throw new ConfigError(
        `Expected each \`fetchData\` name to be a JavaScript identifier, got ${show(name)}`,
      )
    }
    if (CONTEXT_NAMES.has(name)) {
      throw new ConfigError(
        `Expected \`fetchData\` names not to shadow the Lambda context's own \`${name}\`; pick another name`,
      )
    }
    const provider = (fetchData as Record<string, unknown>)[name] as Partial<TokenProvider> | null
    if (provider === null || typeof provider !== 'object' || typeof provider.getToken !== 'function') {
      throw new ConfigError(
        `Expected \`fetchData.${name}\` to be a TokenProvider (from createTokenProvider), got ${show(provider)}`,
      )
    }
    providers.push(provider as TokenProvider)
  }
  if (typeof setToContext !== 'boolean')
    throw new ConfigError(`Expected \`setToContext\` to be a boolean, got ${show(setToContext)}`)
  if (typeof disablePrefetch !== 'boolean') {
    throw new ConfigError(`Expected \`disablePrefetch\` to be a boolean, got ${show(disablePrefetch)}`)
  }
  if (marginMs !== false && !(typeof marginMs === 'number' && Number.isFinite(marginMs) && marginMs >= 0)) {
    throw new ConfigError(
      `Expected \`remainingTimeMarginMs\` to be a number >= 0 or false, got ${show(marginMs)}`,
    )
  }
  return { names, providers, setToContext, disablePrefetch, marginMs }
}

function typedError(err: unknown, name: string): TokenstashError {
  // Own errors already say what happened without a token in them; only foreign ones are wrapped.
  if (err instanceof TokenstashError) return err
  return new TokenUnavailableError(
    `Could not get the \`${name}\` token: its provider failed with a non-tokenstash error (kept as \`cause\`); the next invocation tries again`,
    { tokenNames: [name], reason: 'provider-error', cause: err },
  )
}

function remainingTime(context: Context | undefined): number {
  try {
    const getRemaining = context?.getRemainingTimeInMillis
    return typeof getRemaining === 'function' ? getRemaining.call(context) : NaN
  } catch {
    return NaN
  }
}

function checkToken(token: unknown, name: string): string {
  if (typeof token === 'string' && token !== '') return token
  throw new TokenUnavailableError(
    `Could not get the \`${name}\` token: its provider resolved with ${token === '' ? 'an empty string' : show(typeof token)} instead of a bearer string`,
    { tokenNames: [name], reason: 'provider-error' },
  )
}

/**
 * Middy middleware that puts cached OAuth2 client-credentials tokens on the Lambda context.
 *
 * Every `fetchData` provider is asked when the middleware is created (the Lambda init phase), so
 * the first invocation usually finds its tokens ready; then once per invocation, where the
 * provider's memory tier answers without I/O until the token needs refreshing. All tokens of one
 * invocation are requested in parallel. The event and the response are never touched.
 *
 * When a token cannot be had the invocation fails in `before` with a `TokenstashError`
 * (the provider's own typed error, or {@link TokenUnavailableError}), which an `onError`
 * middleware can turn into a 503. Failures are never cached: the next invocation asks again.
 *
 * @example
 * ```ts
 * import middy from '@middy/core'
 * import { auth0, createTokenProvider } from '@tokenstash/core'
 * import { m2mToken } from '@tokenstash/middy'
 *
 * const ordersApiToken = createTokenProvider({
 *   source: auth0({ domain: 'example.eu.auth0.com', clientId, clientSecret, audience: 'https://orders.example.com' }),
 * })
 *
 * // Added before `.handler()`, the middleware types `context.ordersApiToken` as a string.
 * export const handler = middy()
 *   .use(m2mToken({ fetchData: { ordersApiToken } }))
 *   .handler(async (_event, context) => {
 *     const res = await fetch('https://orders.example.com/v1/orders', {
 *       headers: { authorization: `Bearer ${context.ordersApiToken}` },
 *     })
 *     return { statusCode: res.status, body: await res.text() }
 *   })
 * ```
 */
export function m2mToken<TName extends string>(
  options: M2mTokenOptions<TName> & { setToContext: false },
): MiddlewareObj<unknown, unknown, Error, Context, M2mTokenInternal<TName>>
export function m2mToken<TName extends string>(
  options: M2mTokenOptions<TName>,
): MiddlewareObj<unknown, unknown, Error, M2mTokenContext<TName>, M2mTokenInternal<TName>>
export function m2mToken<TName extends string>(
  options: M2mTokenOptions<TName>,
): MiddlewareObj<unknown, unknown, Error, Context, Record<string, unknown>> {
  const { names, providers, setToContext, disablePrefetch, marginMs } = parseOptions(options)
  const count = names.length
  // A prefetch still in flight is joined by the first invocation. Once it has settled it is
  // dropped: the provider then answers from memory and knows whether the token went stale
  // meanwhile (provisioned concurrency can run init hours before the first invocation), and a
  // failed prefetch is asked again instead of replayed.
  const prefetched: Array<Promise<string> | undefined> = new Array(count).fill(undefined)

  const ask = (i: number, signal?: AbortSignal): Promise<string> => {
    try {
      // The signal tells the provider the invocation's deadline: a provider holding a usable token
      // serves it then instead of waiting for a refresh (core's inline refresh).
      return providers[i]!.getToken(signal && { signal })
    } catch (err) {
      return Promise.reject(err)
    }
  }

  if (!disablePrefetch) {
    for (let i = 0; i < count; i++) {
      const p = ask(i)
      prefetched[i] = p
      const drop = () => {
        if (prefetched[i] === p) prefetched[i] = undefined
      }
      // Also the rejection handler that keeps a failed prefetch from surfacing as unhandled.
      p.then(drop, drop)
    }
  }

  const start = (i: number, signal?: AbortSignal): Promise<string> => {
    const p = prefetched[i]
    if (p === undefined) return ask(i, signal)
    prefetched[i] = undefined
    return p
  }

  const put = (request: AnyRequest, i: number, token: string): void => {
    const name = names[i]!
    request.internal[name] = token
    if (setToContext) (request.context as unknown as Record<string, unknown>)[name] = token
  }

  // The slow path: some token is still on its way, so the wait gets a deadline from the context.
  const waitForAll = async (
    request: AnyRequest,
    pending: Promise<string>[],
    settled: unknown[],
    deadline: AbortController | undefined,
  ): Promise<void> => {
    const checked = new Array<Promise<string>>(count)
    for (let i = 0; i < count; i++) {
      checked[i] = pending[i]!.then(
        (token) => checkToken(token, names[i]!),
        (err) => {
          throw typedError(err, names[i]!)
        },
      )
    }
    const all = Promise.all(checked)
    // A context without a usable clock (local runs, hand-made test doubles, wrappers whose clock
    // throws) gets no cap. Read before anything can throw: `all` must always be awaited or raced,
    // or a token failing later would be an unhandled rejection.
    const remainingMs = marginMs === false ? NaN : remainingTime(request.context)
    let tokens: string[]
    if (marginMs === false || typeof remainingMs !== 'number' || !Number.isFinite(remainingMs)) {
      tokens = await all
    } else {
      const budgetMs = Math.max(0, Math.floor(remainingMs - marginMs))
      let timer: ReturnType<typeof setTimeout> | undefined
      const timeout = new Promise<never>((_, reject) => {
        const timedOut = () => {
          const late = names.filter((_, i) => settled[i] === PENDING)
          return new TokenUnavailableError(
            `Stopped waiting for the ${late.map((n) => `\`${n}\``).join(', ')} token after ${budgetMs} ms, ${marginMs} ms before the Lambda times out, so the invocation can still answer; the request goes on and the next invocation uses its result`,
            { tokenNames: late, reason: 'timeout', waitedMs: budgetMs },
          )
        }
        // The deadline reaches the providers first (their signal): one holding a usable token
        // answers with it within this turn's promise jobs, before the check phase that gives up.
        const atDeadline = () => {
          deadline?.abort(timedOut())
          setImmediate(() => reject(timedOut()))
        }
        if (budgetMs === 0) atDeadline()
        else timer = setTimeout(atDeadline, budgetMs)
      })
      try {
        // Abandoning the wait, not aborting the request: the provider's single flight keeps the
        // fetch going under its own timeouts, so the next invocation joins it instead of asking the
        // identity provider again.
        tokens = await Promise.race([all, timeout])
      } finally {
        clearTimeout(timer)
      }
    }
    for (let i = 0; i < count; i++) put(request, i, tokens[i]!)
  }

  const before = async (request: AnyRequest): Promise<void> => {
    // Every request starts before the first await, so several tokens are fetched in parallel.
    const pending = new Array<Promise<string>>(count)
    const settled = new Array<unknown>(count)
    const deadline = marginMs === false ? undefined : new AbortController()
    for (let i = 0; i < count; i++) {
      const p = start(i, deadline?.signal)
      pending[i] = p
      settled[i] = PENDING
      // Also the rejection handler each promise needs; failures surface through the slow path.
      p.then((token) => {
        settled[i] = token
      }, noop)
    }
    // One turn of the microtask queue: a token from the provider's memory tier (an already
    // resolved promise) has landed in `settled` by then, with no timer and no race.
    await undefined
    for (let i = 0; i < count; i++) {
      if (settled[i] === PENDING) return waitForAll(request, pending, settled, deadline)
    }
    for (let i = 0; i < count; i++) put(request, i, checkToken(settled[i], names[i]!))
  }

  return { before }
}
