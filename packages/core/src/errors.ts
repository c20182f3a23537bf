/**
 * Every error tokenstash throws is a {@link TokenstashError} with a stable `code`.
 * Messages say what happened and what to do; they never hold a token or a secret.
 */

export type ErrorCode =
  | 'ERR_CONFIG'
  | 'ERR_TOKEN_ENDPOINT'
  | 'ERR_TOKEN_RESPONSE'
  | 'ERR_RATE_LIMITED'
  | 'ERR_DISCOVERY'
  | 'ERR_STORE'
  | 'ERR_TOKEN_REJECTED'
  | 'ERR_TOKEN_UNAVAILABLE'

/**
 * Base class of all tokenstash errors. Foreign errors are kept as `cause`.
 *
 * @example
 * ```ts
 * try { await provider.getToken() } catch (err) {
 *   if (err instanceof TokenstashError && err.code === 'ERR_RATE_LIMITED') return retryLater()
 *   throw err
 * }
 * ```
 */
export class TokenstashError extends Error {
  readonly code: ErrorCode

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    this.name = this.constructor.name
  }
}

/**
 * A bad option, caught when it is passed. The message names the option and what was expected.
 *
 * @example
 * ```ts
 * createTokenProvider({ source, refreshRatio: 1.5 })
 * // ConfigError: Expected `refreshRatio` to be a number in (0, 1], got 1.5
 * ```
 */
export class ConfigError extends TokenstashError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_CONFIG', message, options)
  }
}

/** What a {@link TokenEndpointError} carries besides its message: never a token or a secret. */
export interface TokenEndpointErrorDetails {
  /** The token endpoint URL (no credentials are ever part of it). */
  endpoint: string
  /** HTTP status, absent for network errors and timeouts. */
  status?: number
  /** OAuth2 `error` from the response body, e.g. `invalid_client`. */
  error?: string
  /** OAuth2 `error_description` from the response body. */
  errorDescription?: string
  /** Whether trying again later can succeed (network errors, 408, 429, 5xx). */
  retryable: boolean
  /** Delay the endpoint asked for through `Retry-After` or rate-limit headers, in ms. */
  retryAfterMs?: number
  cause?: unknown
}

/**
 * The token endpoint refused or could not be reached. `error`, `errorDescription` and `status`
 * come from the endpoint; `retryable` tells whether the provider retried it.
 *
 * @example
 * ```ts
 * if (err instanceof TokenEndpointError && err.error === 'invalid_client') alertOnCall('rotate the client secret')
 * ```
 */
export class TokenEndpointError extends TokenstashError {
  readonly endpoint: string
  readonly status?: number
  readonly error?: string
  readonly errorDescription?: string
  readonly retryable: boolean
  readonly retryAfterMs?: number

  constructor(message: string, details: TokenEndpointErrorDetails, code: ErrorCode = 'ERR_TOKEN_ENDPOINT') {
    super(code, message, { cause: details.cause })
    this.endpoint = details.endpoint
    this.status = details.status
    this.error = details.error
    this.errorDescription = details.errorDescription
    this.retryable = details.retryable
    this.retryAfterMs = details.retryAfterMs
  }
}

/**
 * The token endpoint (or a cooldown another instance shared through the store) asked callers to
 * wait until `retryAt`, and no usable token was at hand meanwhile.
 *
 * @example
 * ```ts
 * if (err instanceof RateLimitedError) return { statusCode: 503, headers: { 'Retry-After': String(Math.ceil((err.retryAt - Date.now()) / 1000)) } }
 * ```
 */
export class RateLimitedError extends TokenEndpointError {
  /** Epoch ms before which no instance sharing the store will call the token endpoint. */
  readonly retryAt: number

  constructor(message: string, details: TokenEndpointErrorDetails & { retryAt: number }) {
    super(message, details, 'ERR_RATE_LIMITED')
    this.retryAt = details.retryAt
  }
}

/**
 * The token endpoint answered 2xx with something that is not a usable token response:
 * HTML, non-JSON, no `access_token`, an unexpected `token_type`, a bad `expires_in`, an expired JWT.
 *
 * @example
 * ```ts
 * if (err instanceof TokenResponseError) log.error({ endpoint: err.endpoint, reason: err.reason })
 * ```
 */
export class TokenResponseError extends TokenstashError {
  readonly endpoint: string
  readonly status?: number
  /** Short machine-readable reason, e.g. `not_json`, `missing_access_token`, `bad_expires_in`. */
  readonly reason: string

  constructor(
    message: string,
    details: { endpoint: string; status?: number; reason: string; cause?: unknown },
  ) {
    super('ERR_TOKEN_RESPONSE', message, { cause: details.cause })
    this.endpoint = details.endpoint
    this.status = details.status
    this.reason = details.reason
  }
}

/**
 * Discovery of the token endpoint from an `issuer` failed (both well-known documents).
 *
 * @example
 * ```ts
 * clientCredentials({ issuer: 'https://idp.example.com', clientId, clientSecret }) // DiscoveryError on first getToken if unreachable
 * ```
 */
export class DiscoveryError extends TokenstashError {
  readonly issuer: string
  /** HTTP status of the metadata request, when one answered. */
  readonly status?: number
  /**
   * Whether trying again later can succeed (network errors, timeouts, 408, 429, 5xx); the provider
   * retries those like token endpoint failures. Wrong metadata is not retried.
   */
  readonly retryable: boolean

  constructor(
    message: string,
    details: { issuer: string; status?: number; retryable?: boolean; cause?: unknown },
  ) {
    super('ERR_DISCOVERY', message, { cause: details.cause })
    this.issuer = details.issuer
    this.status = details.status
    this.retryable = details.retryable ?? false
  }
}

/**
 * A store call failed or took longer than `storeTimeoutMs`. The provider never lets this reach
 * `getToken` callers (it degrades to memory and a direct fetch); stores and events carry it.
 *
 * @example
 * ```ts
 * onEvent: (e) => { if (e.type === 'store-error') metrics.count('tokenstash.store_down') }
 * ```
 */
export class StoreError extends TokenstashError {
  readonly operation: string

  constructor(message: string, details: { operation: string; cause?: unknown }) {
    super('ERR_STORE', message, { cause: details.cause })
    this.operation = details.operation
  }
}

/**
 * Thrown by a store's `get` for an entry it holds but cannot interpret (a DynamoDB item whose
 * expiry does not read as a number, for example). The store answered, so it is not failing: the
 * provider counts the entry as a miss and emits `store-unreadable` (`corrupt`) with this message,
 * instead of a `store-error`.
 *
 * @example
 * ```ts
 * if (typeof item.expiresAt !== 'number') throw new StoreEntryUnreadableError('the expiry is not a number', { operation: 'get' })
 * ```
 */
export class StoreEntryUnreadableError extends StoreError {
  /** Marks the error across copies of core (two installed versions): checked by name too. */
  readonly unreadable = true
}

/**
 * A token was rejected (e.g. a 401 from the resource server) right after it was fetched to replace
 * one that was rejected before. Refetching again would loop; the configuration is likely wrong.
 * `getToken` throws it too for `DEFAULTS.rejectionWindowMs` after that: the rejected token is not
 * served again, and no new one is fetched before then.
 *
 * @example
 * ```ts
 * await provider.invalidate(sentToken) // throws TokenRejectedError on the second rejection in a row
 * ```
 */
export class TokenRejectedError extends TokenstashError {
  constructor(message: string) {
    super('ERR_TOKEN_REJECTED', message)
  }
}
