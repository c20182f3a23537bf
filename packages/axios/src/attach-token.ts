import {
  ConfigError,
  isTokenRejection,
  refuseUnknownOptions,
  replayOn401,
  type TokenProvider,
  withheldTokenLog,
} from '@tokenstash/core'
import type { AxiosError, AxiosInstance, AxiosResponse, AxiosStatic, InternalAxiosRequestConfig } from 'axios'
import axiosRetry from 'axios-retry'
import { allowedOrigins, requestOrigin } from './origins'
import { redactError } from './redact'
import { retryConfig } from './retry'
import type { AttachTokenOptions, TokenstashRequestState } from './types'

type Headers = InternalAxiosRequestConfig['headers']

const OPTIONS = ['origins', 'retryOn401', 'retry', 'logger'] as const

/**
 * The part of a provider the interceptor uses; any `TokenProvider` fits.
 *
 * @example
 * ```ts
 * const fixed: BearerTokenProvider = { getToken: async () => process.env.API_TOKEN!, invalidate: async () => {} }
 * ```
 */
export type BearerTokenProvider = Pick<TokenProvider, 'getToken' | 'invalidate'>

function kind(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  return typeof value === 'object' ? 'an object' : typeof value === 'function' ? 'a function' : String(value)
}

function bearerOf(headers: Headers | undefined): string | undefined {
  const value = headers?.get?.('Authorization')
  return typeof value === 'string' && value.startsWith('Bearer ') ? value.slice(7) : undefined
}

function stateOf(config: InternalAxiosRequestConfig): TokenstashRequestState | undefined {
  const value: unknown = config.tokenstash
  if (value === false) return undefined
  const retryOn401 = (value as TokenstashRequestState | null)?.retryOn401
  if (
    (value !== undefined && (value === null || typeof value !== 'object' || Array.isArray(value))) ||
    (retryOn401 !== undefined && typeof retryOn401 !== 'boolean')
  ) {
    throw new ConfigError(
      `Expected the request option \`tokenstash\` to be false or { retryOn401?: boolean }, got ${kind(value)}` +
        (retryOn401 !== undefined ? ` with retryOn401 ${kind(retryOn401)}` : ''),
    )
  }
  const state: TokenstashRequestState = (value as TokenstashRequestState | undefined) ?? {}
  config.tokenstash = state
  return state
}

type RedirectHook = NonNullable<InternalAxiosRequestConfig['beforeRedirect']>

// Hooks installed by attachToken, so a replayed or retried config is not wrapped twice.
const guards = new WeakSet<RedirectHook>()

function redirectOrigin(options: Record<string, unknown>): string | undefined {
  try {
    if (typeof options.href === 'string') return new URL(options.href).origin
    if (typeof options.protocol === 'string' && typeof options.host === 'string') {
      return new URL(`${options.protocol}//${options.host}`).origin
    }
  } catch {
    // Unparseable: treated as another origin.
  }
  return undefined
}

/**
 * follow-redirects keeps `Authorization` on a redirect to a subdomain, and older axios 1.x versions do
 * not strip it themselves: the token must not follow a redirect to an origin that is not allowed.
 */
function guardRedirects(config: InternalAxiosRequestConfig, origins: ReadonlySet<string>): void {
  const hook = config.beforeRedirect
  if (hook && guards.has(hook)) return
  const guarded: RedirectHook = (options, response, ...rest: unknown[]) => {
    const target = redirectOrigin(options)
    const headers = options.headers as Record<string, unknown> | undefined
    if (headers && (!target || !origins.has(target))) {
      for (const name of Object.keys(headers))
        if (name.toLowerCase() === 'authorization') delete headers[name]
    }
    ;(hook as ((...args: unknown[]) => void) | undefined)?.(options, response, ...rest)
  }
  guards.add(guarded)
  config.beforeRedirect = guarded
}

function isAxiosErrorWithConfig(
  error: unknown,
): error is AxiosError & { config: InternalAxiosRequestConfig } {
  return (
    (error as AxiosError | null)?.isAxiosError === true && typeof (error as AxiosError).config === 'object'
  )
}

/**
 * Installs interceptors on an axios instance that send `Authorization: Bearer <token>` from a
 * tokenstash provider, and returns a function that removes them again.
 *
 * - The token goes only to allowed origins (default: the origin of the instance's `baseURL`), never
 *   to another host named by an absolute URL, and never over an `Authorization` header the caller set.
 * - A 401 that blames the token (not `insufficient_scope`) invalidates it (compare-and-delete, once
 *   for a burst) and replays the request once with the next token: idempotent methods by default.
 * - Network errors, 429 and 5xx are retried through axios-retry with exponential backoff, jitter and
 *   `Retry-After`; every attempt gets a current token.
 * - Errors axios rejects with have `Authorization` redacted from their config, request and response.
 *
 * Call it before adding logging interceptors: response interceptors added earlier see errors
 * before they are redacted.
 *
 * @example
 * ```ts
 * import axios from 'axios'
 * import { createTokenProvider, cognito } from '@tokenstash/core'
 * import { attachToken } from '@tokenstash/axios'
 *
 * const orders = createTokenProvider({ source: cognito({ domain, clientId, clientSecret, scopes: ['orders/read'] }) })
 * const api = axios.create({ baseURL: 'https://orders.example.com' })
 * const eject = attachToken(api, orders)
 * const { data } = await api.get('/orders/42')                  // Authorization: Bearer …
 * await api.get('https://other.example.com/')                   // no token: another origin
 * await api.get('/health', { tokenstash: false })               // no token on this request
 * eject()
 * ```
 */
export function attachToken(
  instance: AxiosInstance | AxiosStatic,
  provider: BearerTokenProvider,
  options: AttachTokenOptions = {},
): () => void {
  if (
    !instance ||
    typeof instance.request !== 'function' ||
    typeof instance.interceptors?.request?.use !== 'function'
  ) {
    throw new ConfigError(
      `Expected \`instance\` to be an axios instance (axios or axios.create()), got ${kind(instance)}`,
    )
  }
  if (!provider || typeof provider.getToken !== 'function' || typeof provider.invalidate !== 'function') {
    throw new ConfigError(
      `Expected \`provider\` to be a TokenProvider (from createTokenProvider), got ${kind(provider)}`,
    )
  }
  if (options === null || typeof options !== 'object') {
    throw new ConfigError(`Expected \`options\` to be an object, got ${kind(options)}`)
  }
  refuseUnknownOptions('attachToken', options, OPTIONS)
  const origins = allowedOrigins(options.origins, instance.defaults?.baseURL)
  const replays = replayOn401(options.retryOn401)
  const withheld = withheldTokenLog(options.logger, '@tokenstash/axios', origins)
  if (
    options.retry !== undefined &&
    options.retry !== false &&
    (options.retry === null || typeof options.retry !== 'object')
  ) {
    throw new ConfigError(`Expected \`retry\` to be axios-retry options or false, got ${kind(options.retry)}`)
  }

  // One renewal per rejected token: a burst of 401s for it shares one invalidate and one getToken.
  // The provider owns the rest: invalidate of a token it no longer serves is a no-op, so a late 401
  // for an old token just picks up the current one, and a replacement rejected again throws.
  const renewals = new Map<string, Promise<string>>()
  const renew = (rejected: string): Promise<string> => {
    let flight = renewals.get(rejected)
    if (!flight) {
      flight = provider
        .invalidate(rejected)
        .then(() => provider.getToken())
        .finally(() => renewals.delete(rejected))
      renewals.set(rejected, flight)
    }
    return flight
  }

  const onRequest = async (config: InternalAxiosRequestConfig): Promise<InternalAxiosRequestConfig> => {
    const state = stateOf(config)
    if (!state) return config
    const headers = config.headers
    const present = headers.get('Authorization')
    if (present !== undefined && present !== null && present !== false && !state.attached) return config
    const origin = requestOrigin(config)
    if (!origin || !origins.has(origin)) {
      if (origin) withheld(origin)
      // A config reused for another origin must not carry a token set for the first one.
      if (state.attached) headers.delete('Authorization')
      state.attached = false
      return config
    }
    const signal = config.signal instanceof AbortSignal ? config.signal : undefined
    const token = await provider.getToken(signal ? { signal } : undefined)
    headers.set('Authorization', `Bearer ${token}`)
    state.attached = true
    guardRedirects(config, origins)
    return config
  }

  const onUnauthorized = async (error: unknown): Promise<AxiosResponse> => {
    if (!isAxiosErrorWithConfig(error) || !isTokenRejection(error.response)) throw error
    const config = error.config
    const state =
      config.tokenstash === false ? undefined : (config.tokenstash as TokenstashRequestState | undefined)
    const sent = state?.attached ? bearerOf(config.headers) : undefined
    // A second 401 after the replay ends here: refetching again would loop.
    if (!state || !sent || state.replayed) throw error
    let next: string
    try {
      next = await renew(sent)
    } catch (cause) {
      // The 401 is what happened to the request; why it could not be recovered rides along.
      if ((error as { cause?: unknown }).cause === undefined) (error as { cause?: unknown }).cause = cause
      throw error
    }
    const method = (config.method ?? 'get').toLowerCase()
    const replay = state.retryOn401 ?? replays(method)
    if (!replay || next === sent || config.signal?.aborted) throw error
    state.replayed = true
    // The body was serialised for the first attempt; serialising it again would corrupt it.
    config.transformRequest = [(data: unknown) => data]
    return instance.request(config)
  }

  const onError = (error: unknown): never => {
    if (isAxiosErrorWithConfig(error)) {
      const sent = bearerOf(error.config.headers) ?? bearerOf(error.response?.config?.headers)
      redactError(error, sent ? [sent] : [])
    }
    throw error
  }

  const requestId = instance.interceptors.request.use(onRequest)
  const unauthorizedId = instance.interceptors.response.use(undefined, onUnauthorized)
  // axios-retry sits between the 401 replay and redaction: it needs the unredacted config to retry,
  // and its retry passes through onRequest again, so every attempt carries a current token.
  const retryIds = options.retry === false ? undefined : axiosRetry(instance, retryConfig(options.retry))
  const redactId = instance.interceptors.response.use(undefined, onError)

  return function eject(): void {
    instance.interceptors.request.eject(requestId)
    instance.interceptors.response.eject(unauthorizedId)
    instance.interceptors.response.eject(redactId)
    if (retryIds) {
      instance.interceptors.request.eject(retryIds.requestInterceptorId)
      instance.interceptors.response.eject(retryIds.responseInterceptorId)
    }
  }
}
