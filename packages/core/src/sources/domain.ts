import { ConfigError } from '../errors'
import { expectEndpointUrl, expectString } from '../validate'

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
