import type { HttpSourceOptions, TokenSource } from '../types'
import { stringList } from '../validate'
import { hostedSecretSource } from './domain'
import type { SecretResolver } from './secret'

/**
 * Options of {@link cognito}.
 *
 * @example
 * ```ts
 * const options: CognitoOptions = { domain: 'acme.auth.eu-west-1.amazoncognito.com', clientId, clientSecret, scopes: 'orders/read' }
 * ```
 */
export interface CognitoOptions extends HttpSourceOptions {
  /** User pool domain (`my-pool.auth.eu-west-1.amazoncognito.com`), custom domain or its https URL. */
  domain: string
  clientId: string
  /** The client secret, or a function resolving it (read lazily, again after `invalid_client`: see `clientCredentials`). */
  clientSecret: string | SecretResolver<string>
  /** Custom scopes (`resource-server-id/scope`), space-separated or an array; default: all the client may use. */
  scopes?: string | string[]
}

/**
 * A token source for an Amazon Cognito app client with a secret: `POST https://{domain}/oauth2/token`,
 * form body `grant_type=client_credentials` (and `scope`), credentials in `Authorization: Basic`,
 * as Cognito documents. Cognito bills M2M token requests and rate-limits the endpoint.
 *
 * @example
 * ```ts
 * import { cognito, createTokenProvider } from '@tokenstash/core'
 *
 * const orders = createTokenProvider({
 *   source: cognito({
 *     domain: 'acme.auth.eu-west-1.amazoncognito.com',
 *     clientId: process.env.COGNITO_CLIENT_ID!,
 *     clientSecret: process.env.COGNITO_CLIENT_SECRET!,
 *     scopes: ['orders/read'],
 *   }),
 * })
 * ```
 */
export function cognito(options: CognitoOptions): TokenSource {
  return hostedSecretSource('cognito', options, ['scopes'], '/oauth2/token', (o) => ({
    authMethod: 'client_secret_basic',
    bodyFormat: 'form',
    scope: stringList('scopes', o.scopes),
  }))
}
