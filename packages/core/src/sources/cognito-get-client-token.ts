import { DEFAULTS } from '../defaults'
import { ConfigError, TokenEndpointError, TokenResponseError } from '../errors'
import { refuseUnknownOptions } from '../known-options'
import type { HttpSourceOptions, TokenSet, TokenSource } from '../types'
import { expectEndpointUrl, expectFunction, expectString, optionalNumber, stringList } from '../validate'
import { scrub } from './endpoint-error'
import { MAX_BODY_BYTES, readBody } from './read-body'
import { LazySecret, type SecretResolver } from './secret'
import { parseTokenResponse } from './token-response'

/**
 * Options of {@link cognitoGetClientToken}.
 *
 * @example
 * ```ts
 * const options: CognitoGetClientTokenOptions = { region: 'eu-west-1', clientId, clientSecret, scopes: ['orders/read'] }
 * ```
 */
export interface CognitoGetClientTokenOptions extends HttpSourceOptions {
  /** The user pool's region, e.g. `eu-west-1`: the request goes to `https://cognito-idp.{region}.amazonaws.com/`. */
  region: string
  /** An app client with a secret and the `ALLOW_CLIENT_TOKEN_AUTH` flow. */
  clientId: string
  /** The app client's secret, or a function resolving it (read lazily, again after NotAuthorizedException). */
  clientSecret: string | SecretResolver<string>
  /** Custom scopes (`resource-server-id/scope`), space-separated or an array; default: all the client may use. */
  scopes?: string | string[]
  /** Passed to the user pool's Lambda triggers as `ClientMetadata`. */
  clientMetadata?: Record<string, string>
  /** Another endpoint (a VPC endpoint, a FIPS endpoint, a local stand-in); https, or http on loopback. */
  endpoint?: string
}

const OPTIONS = [
  'region',
  'clientId',
  'clientSecret',
  'scopes',
  'clientMetadata',
  'endpoint',
  'timeoutMs',
  'fetch',
  'now',
] as const
const TARGET = 'AWSCognitoIdentityProviderService.GetClientToken'
const THROTTLED = new Set(['TooManyRequestsException', 'LimitExceededException'])
const REFUSED_CREDENTIALS = new Set(['NotAuthorizedException'])
const SAFE_TYPE = /^[A-Za-z]{1,80}$/

function metadata(value: unknown): Record<string, string> | undefined {
  if (value === undefined) return undefined
  if (
    typeof value !== 'object' ||
    value === null ||
    Array.isArray(value) ||
    Object.values(value).some((v) => typeof v !== 'string')
  ) {
    throw new ConfigError('Expected `clientMetadata` to be an object of string values')
  }
  return value as Record<string, string>
}

/** Cognito's JSON error: `{ "__type": "NotAuthorizedException", "message": "..." }` (the type may carry a `#` prefix). */
function awsError(body: string): { type?: string; message?: string } {
  try {
    const json = JSON.parse(body) as Record<string, unknown>
    const raw = typeof json.__type === 'string' ? json.__type.split('#').pop() : undefined
    const message = json.message ?? json.Message
    return {
      type: raw && SAFE_TYPE.test(raw) ? raw : undefined,
      message: typeof message === 'string' ? message.slice(0, 300) : undefined,
    }
  } catch {
    return {}
  }
}

/**
 * A token source for Amazon Cognito's `GetClientToken` API operation: M2M access tokens for an
 * app client with the `ALLOW_CLIENT_TOKEN_AUTH` flow, without a user pool domain. The request is
 * unauthenticated JSON (`POST https://cognito-idp.{region}.amazonaws.com/`, `X-Amz-Target:
 * AWSCognitoIdentityProviderService.GetClientToken`, `application/x-amz-json-1.1`), so no AWS SDK
 * is loaded. Errors map like the token endpoint's: `NotAuthorizedException` is `invalid_client`
 * (not retried; a resolved secret is read again once), `TooManyRequestsException` and
 * `LimitExceededException` are rate limits (status 429: retried, and shared through the store as
 * a cooldown), 5xx and network errors are retried. Same quota as the `/oauth2/token` endpoint.
 *
 * @example
 * ```ts
 * import { cognitoGetClientToken, createTokenProvider } from '@tokenstash/core'
 *
 * const orders = createTokenProvider({
 *   source: cognitoGetClientToken({
 *     region: 'eu-west-1',
 *     clientId: process.env.COGNITO_CLIENT_ID!,
 *     clientSecret: process.env.COGNITO_CLIENT_SECRET!,
 *     scopes: ['orders/read'],
 *   }),
 * })
 * ```
 */
export function cognitoGetClientToken(options: CognitoGetClientTokenOptions): TokenSource {
  if (!options || typeof options !== 'object')
    throw new ConfigError('Expected the options of `cognitoGetClientToken` to be an object')
  const o = options
  refuseUnknownOptions('cognitoGetClientToken', o, OPTIONS)
  const region = expectString('region', o.region, 'an AWS region such as "eu-west-1"')
  if (!/^[a-z]{2}(-[a-z]+)+-\d$/.test(region))
    throw new ConfigError(
      `Expected \`region\` to be an AWS region such as "eu-west-1", got ${JSON.stringify(region.slice(0, 40))}`,
    )
  const endpoint = expectEndpointUrl(
    'endpoint',
    o.endpoint ?? `https://cognito-idp.${region}.amazonaws.com/`,
  ).href
  const clientId = expectString('clientId', o.clientId)
  const secret = new LazySecret('clientSecret', o.clientSecret, (v) => expectString('clientSecret', v))
  const scopes = stringList('scopes', o.scopes)
  const clientMetadata = metadata(o.clientMetadata)
  const timeoutMs = optionalNumber('timeoutMs', o.timeoutMs, DEFAULTS.timeoutMs, { min: 1, integer: true })
  const customFetch = o.fetch === undefined ? undefined : expectFunction<typeof fetch>('fetch', o.fetch)
  const now = o.now === undefined ? Date.now : expectFunction<() => number>('now', o.now)
  const id = `cognito_get_client_token:${JSON.stringify({ endpoint, clientId, scope: scopes })}`

  async function request(signal?: AbortSignal): Promise<TokenSet> {
    signal?.throwIfAborted()
    const value = await secret.get(endpoint)
    const body = JSON.stringify({
      ClientId: clientId,
      Secret: value,
      ...(scopes.length > 0 ? { Scopes: scopes } : {}),
      ...(clientMetadata ? { ClientMetadata: clientMetadata } : {}),
    })
    const timeout = AbortSignal.timeout(timeoutMs)
    const issuedAt = now()
    let response: Response
    let text: string
    let truncated: boolean
    try {
      response = await (customFetch ?? globalThis.fetch)(endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': TARGET },
        body,
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
        redirect: 'manual',
      })
      ;({ text, truncated } = await readBody(response))
    } catch (cause) {
      if (signal?.aborted) throw signal.reason
      const why = timeout.aborted ? `timed out after ${timeoutMs} ms` : 'could not be reached'
      throw new TokenEndpointError(
        `Cognito GetClientToken at ${endpoint} ${why}. Trying again later can succeed.`,
        // The request body holds the secret; transport errors do not echo it.
        { endpoint, retryable: true, cause },
      )
    }
    if (response.status < 200 || response.status > 299) {
      const { type, message } = awsError(text)
      const throttled = type !== undefined && THROTTLED.has(type)
      const refused = type !== undefined && REFUSED_CREDENTIALS.has(type)
      const status = throttled ? 429 : response.status
      const said = `${type ?? `HTTP ${response.status}`}${message ? `: ${scrub(message, [value])}` : ''}`
      const advice = refused
        ? 'Check the client id and secret, and that the app client allows ALLOW_CLIENT_TOKEN_AUTH.'
        : throttled
          ? 'Rate limited; backing off.'
          : status >= 500
            ? 'Cognito is failing; trying again later can succeed.'
            : 'Check the region, the app client and `scopes`.'
      throw new TokenEndpointError(`Cognito GetClientToken at ${endpoint} answered ${said}. ${advice}`, {
        endpoint,
        status,
        error: refused ? 'invalid_client' : throttled ? 'rate_limited' : type,
        errorDescription: message === undefined ? undefined : scrub(message, [value]),
        retryable: throttled || status >= 500,
      })
    }
    if (truncated) {
      throw new TokenResponseError(
        `Cognito GetClientToken at ${endpoint} answered with a body over ${MAX_BODY_BYTES} bytes`,
        {
          endpoint,
          status: response.status,
          reason: 'too_large',
        },
      )
    }
    // The API's shape, read through the same checks as an OAuth2 token response.
    let result: Record<string, unknown> | undefined
    try {
      const json = JSON.parse(text) as { ClientAuthenticationResult?: Record<string, unknown> }
      result = json?.ClientAuthenticationResult
    } catch {
      result = undefined
    }
    if (!result || typeof result !== 'object') {
      throw new TokenResponseError(
        `Cognito GetClientToken at ${endpoint} answered ${response.status} without a ClientAuthenticationResult`,
        { endpoint, status: response.status, reason: 'missing_access_token' },
      )
    }
    return parseTokenResponse(
      JSON.stringify({
        access_token: result.AccessToken,
        token_type: result.TokenType,
        expires_in: result.ExpiresIn,
      }),
      {
        endpoint,
        status: response.status,
        contentType: 'application/json',
        issuedAt,
        now: now(),
        tokenTypes: ['Bearer'],
      },
    )
  }

  async function fetchToken(signal?: AbortSignal): Promise<TokenSet> {
    try {
      return await request(signal)
    } catch (err) {
      if (!(err instanceof TokenEndpointError) || err.error !== 'invalid_client' || !secret.rotates) throw err
      await secret.rotate(endpoint)
      return request(signal)
    }
  }

  return { id, fetchToken }
}
