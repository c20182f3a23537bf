import { TokenEndpointError } from '../errors'

// A refusal from the token endpoint becomes one TokenEndpointError that says whether trying again
// can help (the provider retries on that alone), how long the endpoint asked us to wait, and what
// the operator should change. The endpoint's own words are kept, shortened and scrubbed of our
// credentials, because some servers echo the request back.

const MAX_DESCRIPTION = 300
const OAUTH_ERROR = /^[\x20-\x21\x23-\x5B\x5D-\x7E]{1,100}$/
/** x-ratelimit-reset values below this are seconds from now, not an epoch (2001-09-09). */
const EPOCH_SECONDS_FLOOR = 1_000_000_000

/**
 * A non-2xx answer of the token endpoint, for {@link endpointError}.
 *
 * @example
 * ```ts
 * const ctx: EndpointErrorContext = { endpoint, status: 401, headers: res.headers, body, now: Date.now(), secrets: [clientSecret], authMethod: 'client_secret_basic' }
 * ```
 */
export interface EndpointErrorContext {
  endpoint: string
  status: number
  headers: Headers
  body: string
  /** Epoch ms, to turn an HTTP-date or epoch reset into a delay. */
  now: number
  /** Strings that must never appear in the message (client secret and its encodings, assertions). */
  secrets: readonly string[]
  authMethod: string
}

/** Whether a status can succeed later without a change on our side. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 425 || status === 429 || status >= 500
}

/**
 * Delay asked for by `Retry-After` (delta seconds or HTTP-date) or, on 429 without it, by
 * Auth0-style `x-ratelimit-reset` (epoch seconds). `undefined` when neither says anything usable.
 */
export function retryAfterMs(status: number, headers: Headers, now: number): number | undefined {
  const retryAfter = headers.get('retry-after')?.trim()
  if (retryAfter) {
    if (/^\d+$/.test(retryAfter)) return Number(retryAfter) * 1000
    const date = Date.parse(retryAfter)
    if (Number.isFinite(date)) return Math.max(0, date - now)
  }
  const reset = headers.get('x-ratelimit-reset')?.trim()
  if (status === 429 && reset && /^\d+$/.test(reset)) {
    const value = Number(reset)
    return value < EPOCH_SECONDS_FLOOR ? value * 1000 : Math.max(0, value * 1000 - now)
  }
  return undefined
}

/** Replaces every occurrence of each secret with `[redacted]`. */
export function scrub(text: string, secrets: readonly string[]): string {
  let out = text
  for (const secret of secrets) if (secret) out = out.split(secret).join('[redacted]')
  return out
}

function readOAuthError(body: string): { error?: string; description?: string } {
  try {
    const json: unknown = JSON.parse(body)
    if (typeof json !== 'object' || json === null || Array.isArray(json)) return {}
    const { error, error_description: description } = json as Record<string, unknown>
    return {
      error: typeof error === 'string' ? error : undefined,
      description: typeof description === 'string' ? description : undefined,
    }
  } catch {
    // HTML error pages from gateways and WAFs are common; the status alone must do.
    return {}
  }
}

function advice(
  status: number,
  error: string | undefined,
  authMethod: string,
  waitMs: number | undefined,
): string {
  switch (error) {
    case 'invalid_client':
      return `Check the client id, the client secret or key, and the auth method (\`authMethod\` is '${authMethod}').`
    case 'unauthorized_client':
      return 'This client may not use the client_credentials grant (or this scope/audience); allow it at the identity provider.'
    case 'invalid_scope':
      return 'Check `scope`: every scope requested must exist and be granted to this client.'
    case 'invalid_target':
      return 'Check `resource` and `audience`: the identity provider does not know them or this client may not use them.'
    case 'unsupported_grant_type':
    case 'invalid_grant':
      return 'The endpoint does not accept grant_type=client_credentials for this client; enable it at the identity provider.'
    case 'access_denied':
      return 'Check the client credentials and that this client is authorized for the requested audience (Auth0: authorize the application for the API).'
    case 'invalid_request':
      return 'The endpoint rejected the request shape; check `authMethod`, `bodyFormat`, `audience`, `resource` and `extraParams`.'
  }
  if (status === 429)
    return `Rate limited; ${waitMs === undefined ? 'back off before trying again' : `retry in ${Math.ceil(waitMs / 1000)} s`}.`
  if (status >= 500 || isRetryableStatus(status))
    return 'The identity provider is failing or overloaded; trying again later can succeed.'
  if (status === 401 || status === 403)
    return `Check the client id, the client secret or key, and the auth method (\`authMethod\` is '${authMethod}').`
  if (status === 404 || status === 405) return 'Check `tokenEndpoint`: nothing there accepts a token request.'
  if (status >= 300 && status < 400)
    return 'The endpoint redirected; set `tokenEndpoint` to the final URL (credentials are not sent across redirects).'
  return 'Check the client configuration at the identity provider.'
}

/**
 * The {@link TokenEndpointError} for a non-2xx answer of the token endpoint.
 *
 * @example
 * ```ts
 * if (!res.ok) throw endpointError({ endpoint, status: res.status, headers: res.headers, body, now: Date.now(), secrets, authMethod })
 * ```
 */
export function endpointError(ctx: EndpointErrorContext): TokenEndpointError {
  const parsed = readOAuthError(ctx.body)
  const error =
    parsed.error !== undefined && OAUTH_ERROR.test(parsed.error)
      ? scrub(parsed.error, ctx.secrets)
      : undefined
  let description = parsed.description === undefined ? undefined : scrub(parsed.description, ctx.secrets)
  if (description !== undefined && description.length > MAX_DESCRIPTION)
    description = `${description.slice(0, MAX_DESCRIPTION)}…`
  const retryable = isRetryableStatus(ctx.status)
  const waitMs = retryAfterMs(ctx.status, ctx.headers, ctx.now)
  const said = `${error ? ` ${error}` : ''}${description ? `: ${description}` : ''}`
  const message = `Token endpoint ${ctx.endpoint} answered ${ctx.status}${said}. ${advice(ctx.status, error, ctx.authMethod, waitMs)}`
  return new TokenEndpointError(message, {
    endpoint: ctx.endpoint,
    status: ctx.status,
    error,
    errorDescription: description,
    retryable,
    retryAfterMs: waitMs,
  })
}
