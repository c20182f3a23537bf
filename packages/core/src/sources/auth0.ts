import type { HttpSourceOptions, TokenSource } from '../types'
import { expectString } from '../validate'
import { hostedSecretSource } from './domain'
import type { SecretResolver } from './secret'

/**
 * Options of {@link auth0}.
 *
 * @example
 * ```ts
 * const options: Auth0Options = { domain: 'acme.eu.auth0.com', clientId, clientSecret, audience: 'https://orders.acme.com' }
 * ```
 */
export interface Auth0Options extends HttpSourceOptions {
  /** Tenant domain (`tenant.eu.auth0.com`), custom domain (`login.example.com`) or its https URL. */
  domain: string
  clientId: string
  /** The client secret, or a function resolving it (read lazily, again after `invalid_client`: see `clientCredentials`). */
  clientSecret: string | SecretResolver<string>
  /** The API identifier the token is for. */
  audience: string
  /** Space-separated scopes, or an array; default: all scopes granted to the client for the API. */
  scope?: string | string[]
}

/**
 * A token source for an Auth0 machine-to-machine application: `POST https://{domain}/oauth/token`
 * with the JSON body Auth0 documents (`grant_type`, `client_id`, `client_secret`, `audience`,
 * `scope`). Every token saved counts: Auth0 caps the monthly M2M tokens of a tenant.
 *
 * @example
 * ```ts
 * import { auth0, createTokenProvider } from '@tokenstash/core'
 *
 * const orders = createTokenProvider({
 *   source: auth0({
 *     domain: 'acme.eu.auth0.com',
 *     clientId: process.env.AUTH0_CLIENT_ID!,
 *     clientSecret: process.env.AUTH0_CLIENT_SECRET!,
 *     audience: 'https://orders.acme.com',
 *   }),
 * })
 * ```
 */
export function auth0(options: Auth0Options): TokenSource {
  return hostedSecretSource('auth0', options, ['audience', 'scope'], '/oauth/token', (o) => ({
    authMethod: 'client_secret_post',
    bodyFormat: 'json',
    audience: expectString('audience', o.audience, 'a non-empty string (the API identifier)'),
    scope: o.scope as Auth0Options['scope'],
  }))
}
