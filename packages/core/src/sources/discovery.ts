import { type ConfigError, DiscoveryError } from '../errors'
import { expectEndpointUrl } from '../validate'
import { isRetryableStatus } from './endpoint-error'
import { readBody } from './read-body'

// Finding the token endpoint from an issuer: OpenID Connect Discovery first, RFC 8414 second
// (servers that are plain OAuth2 only answer the latter). The metadata must name the very issuer
// we asked about, or a misconfigured proxy could hand us someone else's token endpoint.

export interface IssuerMetadata {
  tokenEndpoint: string
  /** `token_endpoint_auth_methods_supported`, when the server lists it. */
  authMethods?: string[]
}

export interface DiscoveryOptions {
  fetch: typeof fetch
  timeoutMs: number
}

const trimSlash = (s: string): string => s.replace(/\/+$/, '')

/** The two well-known URLs for an issuer, in the order they are tried. */
export function discoveryUrls(issuer: URL): [string, string] {
  const base = trimSlash(issuer.href)
  const path = trimSlash(issuer.pathname)
  return [
    `${base}/.well-known/openid-configuration`,
    `${issuer.origin}/.well-known/oauth-authorization-server${path}`,
  ]
}

async function get(
  url: string,
  issuer: string,
  opts: DiscoveryOptions,
): Promise<{ status: number; body: string }> {
  const timeout = AbortSignal.timeout(opts.timeoutMs)
  try {
    const res = await opts.fetch(url, {
      method: 'GET',
      headers: { accept: 'application/json' },
      signal: timeout,
    })
    // A truncated document fails to parse as JSON and is reported as such.
    return { status: res.status, body: (await readBody(res)).text }
  } catch (cause) {
    const what = timeout.aborted ? `timed out after ${opts.timeoutMs} ms` : 'failed'
    throw new DiscoveryError(
      `Discovery for issuer ${issuer}: GET ${url} ${what}. Check \`issuer\` and the network, or pass \`tokenEndpoint\` instead.`,
      { issuer, retryable: true, cause },
    )
  }
}

/**
 * Reads the issuer's metadata and returns its token endpoint. Throws {@link DiscoveryError}.
 *
 * @example
 * ```ts
 * const { tokenEndpoint } = await discover(new URL('https://idp.example.com'), { fetch, timeoutMs: 10_000 })
 * ```
 */
export async function discover(issuerUrl: URL, opts: DiscoveryOptions): Promise<IssuerMetadata> {
  const issuer = trimSlash(issuerUrl.href)
  let status: number | undefined
  const fail = (what: string, cause?: unknown): never => {
    const retryable = status !== undefined && isRetryableStatus(status)
    throw new DiscoveryError(`Discovery for issuer ${issuer}: ${what}`, { issuer, status, retryable, cause })
  }
  const [oidc, oauth] = discoveryUrls(issuerUrl)
  let url = oidc
  let res = await get(url, issuer, opts)
  if (res.status === 404) {
    url = oauth
    res = await get(url, issuer, opts)
  }
  status = res.status
  if (res.status < 200 || res.status > 299) {
    return fail(
      `GET ${url} answered ${res.status}${url === oauth ? ` (and ${oidc} answered 404)` : ''}. Check \`issuer\`, or pass \`tokenEndpoint\` instead.`,
    )
  }

  let metadata: unknown
  try {
    metadata = JSON.parse(res.body)
  } catch (cause) {
    return fail(`GET ${url} did not answer JSON. Check \`issuer\`.`, cause)
  }
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
    return fail(`GET ${url} did not answer a JSON object. Check \`issuer\`.`)
  }
  const m = metadata as Record<string, unknown>
  if (typeof m.issuer !== 'string' || trimSlash(m.issuer) !== issuer) {
    const got = typeof m.issuer === 'string' ? JSON.stringify(m.issuer.slice(0, 200)) : 'none'
    // Multi-tenant metadata (Microsoft Entra ID's `common`, `organizations`) names a template issuer.
    const template = typeof m.issuer === 'string' && /\{[^}]*\}/.test(m.issuer)
    return fail(
      `the metadata at ${url} names issuer ${got}, not the configured one. Set \`issuer\` to exactly the identity provider's issuer` +
        (template
          ? ' (this one is a multi-tenant template: use the tenant-specific issuer, with your tenant id).'
          : '.'),
    )
  }
  let tokenEndpoint: string
  try {
    tokenEndpoint = expectEndpointUrl('token_endpoint', m.token_endpoint).href
  } catch (cause) {
    return fail(
      `the metadata at ${url} has no usable token_endpoint (${(cause as ConfigError).message}).`,
      cause,
    )
  }
  const methods = m.token_endpoint_auth_methods_supported
  const authMethods =
    Array.isArray(methods) && methods.every((x) => typeof x === 'string') ? (methods as string[]) : undefined
  return authMethods ? { tokenEndpoint, authMethods } : { tokenEndpoint }
}
