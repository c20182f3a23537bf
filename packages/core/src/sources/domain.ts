import { ConfigError } from '../errors'
import { refuseUnknownOptions } from '../known-options'
import type { TokenSource } from '../types'
import { expectEndpointUrl, expectString } from '../validate'
import { type ClientCredentialsOptions, clientCredentialsWith } from './client-credentials'
import type { SecretResolver } from './secret'

/**
 * The origin of a hosted identity provider given as a bare domain (`tenant.eu.auth0.com`,
 * `auth.example.com`) or as an https URL; a URL with a path is refused, since the presets add
 * the documented path themselves.
 *
 * @example
 * ```ts
 * hostedOrigin('domain', 'tenant.eu.auth0.com') // 'https://tenant.eu.auth0.com'
 * ```
 */
export function hostedOrigin(name: string, value: unknown): string {
  const text = expectString(name, value, 'a domain like "tenant.eu.auth0.com" or an https URL').trim()
  const url = expectEndpointUrl(name, /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `https://${text}`)
  if (url.pathname.replace(/\/+$/, '') !== '' || url.search || url.hash) {
    throw new ConfigError(
      `Expected \`${name}\` to be a domain or an origin without a path, got ${JSON.stringify(text.slice(0, 80))}`,
    )
  }
  return url.origin
}

/** What the hosted presets (Auth0, Cognito) share: a domain, the client's id and secret, transport. */
interface HostedOptions {
  domain: unknown
  clientId: unknown
  clientSecret: string | SecretResolver<string> | unknown
  timeoutMs?: number
  fetch?: typeof fetch
  now?: () => number
  [option: string]: unknown
}

/**
 * A hosted identity provider's client-secret source: the token endpoint at `path` under its
 * domain, the secret checked now (or resolved lazily by a function), the preset's own options
 * from `own` (called after the shared ones are checked). Neither discovery nor private_key_jwt,
 * so a bundle for a preset leaves both out.
 *
 * @example
 * ```ts
 * hostedSecretSource('cognito', options, ['scopes'], '/oauth2/token', (o) => ({ authMethod: 'client_secret_basic' }))
 * ```
 */
export function hostedSecretSource(
  preset: string,
  options: unknown,
  ownOptions: readonly string[],
  path: string,
  own: (o: HostedOptions) => Partial<ClientCredentialsOptions>,
): TokenSource {
  const o = (options ?? {}) as HostedOptions
  refuseUnknownOptions(preset, o, [
    'domain',
    'clientId',
    'clientSecret',
    ...ownOptions,
    'timeoutMs',
    'fetch',
    'now',
  ])
  const origin = hostedOrigin('domain', o.domain)
  return clientCredentialsWith(
    {
      tokenEndpoint: `${origin}${path}`,
      clientId: expectString('clientId', o.clientId),
      clientSecret:
        typeof o.clientSecret === 'function'
          ? (o.clientSecret as SecretResolver<string>)
          : expectString('clientSecret', o.clientSecret),
      ...own(o),
      timeoutMs: o.timeoutMs,
      fetch: o.fetch,
      now: o.now,
    },
    {},
  )
}
