import { DEFAULTS } from '../defaults'
import { ConfigError, DiscoveryError, TokenEndpointError, TokenResponseError } from '../errors'
import { refuseUnknownOptions } from '../known-options'
import type { HttpSourceOptions, SourceEvent, TokenSet, TokenSource } from '../types'
import {
  expectEndpointUrl,
  expectFunction,
  expectOneOf,
  expectString,
  optionalNumber,
  optionalString,
  stringList,
} from '../validate'
import {
  JWT_BEARER_ASSERTION_TYPE,
  type PrivateKeyInput,
  signClientAssertion,
  signingKey,
} from './client-assertion'
import { discover } from './discovery'
import { endpointError, scrub } from './endpoint-error'
import { readQuotas } from './quota'
import { MAX_BODY_BYTES, readBody } from './read-body'
import { LazySecret, type SecretResolver } from './secret'
import { parseTokenResponse } from './token-response'

/**
 * How the client authenticates at the token endpoint: HTTP Basic or body parameters with the
 * client secret (RFC 6749 §2.3.1), or a JWT signed with the client's private key (RFC 7523).
 *
 * @example
 * ```ts
 * const authMethod: AuthMethod = 'client_secret_post'
 * clientCredentials({ tokenEndpoint, clientId, clientSecret, authMethod })
 * ```
 */
export type AuthMethod = 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt'

const AUTH_METHODS: readonly AuthMethod[] = ['client_secret_basic', 'client_secret_post', 'private_key_jwt']

/** Parameters the source sets itself; letting `extraParams` override them would break the request or leak. */
const RESERVED_PARAMS = new Set([
  'grant_type',
  'client_id',
  'client_secret',
  'client_assertion',
  'client_assertion_type',
  'scope',
  'audience',
  'resource',
])

/**
 * Options of {@link clientCredentials}. Give either `tokenEndpoint` or `issuer`, and a
 * `clientSecret` or a `privateKey`. Everything is checked at construction.
 *
 * @example
 * ```ts
 * const options: ClientCredentialsOptions = {
 *   issuer: 'https://idp.example.com',
 *   clientId: 'orders-service',
 *   privateKey: JSON.parse(process.env.CLIENT_JWK!), // private_key_jwt
 *   resource: 'https://orders.example.com',
 * }
 * ```
 */
export interface ClientCredentialsOptions extends HttpSourceOptions {
  /** The token endpoint URL (https, or http on loopback). */
  tokenEndpoint?: string
  /** The issuer; the token endpoint is discovered from its metadata on the first fetch. */
  issuer?: string
  clientId: string
  /**
   * The client secret, or a function resolving it (e.g. from Secrets Manager): called at the first
   * token request, kept in memory only, and called once more when the endpoint answers
   * `invalid_client` (a rotation), after which the request is sent again once.
   */
  clientSecret?: string | SecretResolver<string>
  /**
   * Private key for `private_key_jwt`: a CryptoKey, a KeyObject or a private JWK, or a function
   * resolving one (read lazily and again after `invalid_client`, like `clientSecret`).
   */
  privateKey?: PrivateKeyInput | SecretResolver<PrivateKeyInput>
  /** `kid` of the client assertion header; defaults to the JWK's `kid`. */
  keyId?: string
  /**
   * Default: `private_key_jwt` with a `privateKey`, else `client_secret_basic`. With `issuer`, a
   * method the metadata's `token_endpoint_auth_methods_supported` lists; when it lists none the
   * client can use and there is a `clientSecret`, `client_secret_basic` (which RFC 6749 requires
   * servers to support), reported as an `auth-method-fallback` event (see `subscribe`). A method
   * given here is always used as given.
   */
  authMethod?: AuthMethod
  /** Scopes, as one space-separated string or an array. */
  scope?: string | string[]
  /** `audience` parameter (Auth0 and others). */
  audience?: string
  /** RFC 8707 resource indicators (absolute URIs), sent as repeated `resource` parameters. */
  resource?: string | string[]
  /** Further body parameters the identity provider needs. */
  extraParams?: Record<string, string>
  /** Default `form` (`application/x-www-form-urlencoded`); `json` for endpoints that want JSON. */
  bodyFormat?: 'form' | 'json'
  /** Accepted `token_type` values, case-insensitive. Default `Bearer`. */
  tokenType?: string | string[]
}

const CLIENT_CREDENTIALS_OPTIONS = [
  'tokenEndpoint',
  'issuer',
  'clientId',
  'clientSecret',
  'privateKey',
  'keyId',
  'authMethod',
  'scope',
  'audience',
  'resource',
  'extraParams',
  'bodyFormat',
  'tokenType',
  'timeoutMs',
  'fetch',
  'now',
] as const

/**
 * `application/x-www-form-urlencoded` encoding of one value, as RFC 6749 §2.3.1 asks for Basic credentials.
 *
 * @example
 * ```ts
 * formUrlEncode('a b+c') // 'a+b%2Bc'
 * ```
 */
export function formUrlEncode(value: string): string {
  return new URLSearchParams([['', value]]).toString().slice(1)
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function resourceList(value: unknown): string[] {
  if (value === undefined) return []
  const items = typeof value === 'string' ? [value] : Array.isArray(value) ? value : null
  if (!items || items.length === 0) {
    throw new ConfigError('Expected `resource` to be an absolute URI or a non-empty array of them')
  }
  for (const item of items) {
    if (typeof item !== 'string' || !URL.canParse(item) || item.includes('#')) {
      throw new ConfigError(
        `Expected \`resource\` to hold absolute URIs without a fragment (RFC 8707), got ${typeof item === 'string' ? JSON.stringify(item.slice(0, 60)) : typeof item}`,
      )
    }
  }
  return [...new Set(items as string[])].sort()
}

function extraParamList(value: unknown): [string, string][] {
  if (value === undefined) return []
  if (!isPlainObject(value)) throw new ConfigError('Expected `extraParams` to be an object of string values')
  const entries = Object.entries(value)
  for (const [key, v] of entries) {
    if (typeof v !== 'string') {
      throw new ConfigError(
        `Expected \`extraParams.${key}\` to be a string, got ${v === null ? 'null' : typeof v}`,
      )
    }
    if (key === '' || RESERVED_PARAMS.has(key)) {
      throw new ConfigError(
        `Expected \`extraParams\` not to set ${JSON.stringify(key)}; use the dedicated option (clientId, clientSecret, privateKey, scope, audience, resource)`,
      )
    }
  }
  return entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)) as [string, string][]
}

function tokenTypeList(value: unknown): string[] {
  if (value === undefined) return ['Bearer']
  const items = typeof value === 'string' ? [value] : Array.isArray(value) ? value : null
  if (!items || items.length === 0 || items.some((t) => typeof t !== 'string' || t.trim() === '')) {
    throw new ConfigError('Expected `tokenType` to be a non-empty string or a non-empty array of them')
  }
  return items as string[]
}

/**
 * The endpoint says the client's credentials are wrong: `invalid_client` (RFC 6749 §5.2, Cognito),
 * or a 401 with no error or `access_denied` (Auth0). After a rotation, the old secret is.
 */
function credentialsRejected(err: TokenEndpointError): boolean {
  return (
    err.error === 'invalid_client' ||
    (err.status === 401 && (err.error === undefined || err.error === 'access_denied'))
  )
}

function required<T>(part: T | undefined, option: string): T {
  if (part === undefined) throw new ConfigError(`Expected no \`${option}\` here: this source cannot use it`)
  return part
}

const SECRET_METHODS: readonly AuthMethod[] = ['client_secret_basic', 'client_secret_post']

/** The method chosen from the issuer's metadata, and whether it is a fallback the metadata does not list. */
interface Choice {
  authMethod: AuthMethod
  fallback: boolean
}

function choose(
  explicit: AuthMethod | undefined,
  hasSecret: boolean,
  hasKey: boolean,
  supported: string[] | undefined,
  issuer: string,
): Choice {
  if (explicit) return { authMethod: explicit, fallback: false }
  const preferred: AuthMethod = hasKey ? 'private_key_jwt' : 'client_secret_basic'
  if (!supported || supported.length === 0 || supported.includes(preferred)) {
    return { authMethod: preferred, fallback: false }
  }
  const possible: AuthMethod[] = [
    ...(hasKey ? (['private_key_jwt'] as const) : []),
    ...(hasSecret ? SECRET_METHODS : []),
  ]
  const pick = possible.find((m) => supported.includes(m))
  if (pick) return { authMethod: pick, fallback: false }
  // Servers list only `none`, or leave out methods they accept; RFC 6749 §2.3.1 requires every
  // server to support HTTP Basic for clients with a password, so that is the one to try.
  if (hasSecret) return { authMethod: 'client_secret_basic', fallback: true }
  throw new DiscoveryError(
    `Discovery for issuer ${issuer}: the server lists client authentication by ${supported.slice(0, 6).join(', ')}, not private_key_jwt, the only method a client with a \`privateKey\` and no \`clientSecret\` can use. ` +
      "Pass the client's `clientSecret`, or `authMethod: 'private_key_jwt'` if the server accepts it all the same.",
    { issuer },
  )
}

/** The token endpoint and auth method from the issuer's metadata, and why when it is a fallback. */
async function discoverTarget(
  issuerUrl: URL,
  opts: {
    fetch: typeof fetch
    timeoutMs: number
    explicitMethod: AuthMethod | undefined
    hasSecret: boolean
    hasKey: boolean
  },
): Promise<{ endpoint: string; authMethod: AuthMethod; fallbackMessage?: string }> {
  const meta = await discover(issuerUrl, opts)
  const issuer = issuerUrl.href.replace(/\/+$/, '')
  const choice = choose(opts.explicitMethod, opts.hasSecret, opts.hasKey, meta.authMethods, issuer)
  return {
    endpoint: meta.tokenEndpoint,
    authMethod: choice.authMethod,
    ...(choice.fallback && {
      fallbackMessage:
        `Discovery for issuer ${issuer}: token_endpoint_auth_methods_supported lists ${JSON.stringify((meta.authMethods ?? []).slice(0, 6))}, ` +
        `no method for a client secret; using ${choice.authMethod}, which RFC 6749 requires servers to support. ` +
        'Set `authMethod` to choose the method yourself.',
    }),
  }
}

/**
 * The foreign error to keep as `cause`. Transport errors do not echo credentials, but a custom
 * `fetch` might; such an error is replaced by a scrubbed copy so no log of the cause leaks them.
 */
function safeCause(cause: unknown, secrets: readonly string[]): unknown {
  try {
    const text = cause instanceof Error ? inspectable(cause) : textOf(cause)
    if (!secrets.some((s) => s && text.includes(s))) return cause
    const copy = new Error(scrub(cause instanceof Error ? textOf(cause.message) : textOf(cause), secrets))
    copy.name = cause instanceof Error ? textOf(cause.name) : 'Error'
    const code = (cause as { code?: unknown })?.code
    if (typeof code === 'string') Object.assign(copy, { code })
    return copy
  } catch {
    // A value that cannot even be looked at (throwing getters, a revoked Proxy) is not kept:
    // neither a log of it nor a retry decision may throw.
    return new Error('The transport failed with a value that cannot be inspected')
  }
}

/**
 * Why the transport failed, in a few words: the cause's code or message, or the error's message.
 * Never throws, whatever was thrown (throwing getters, a revoked Proxy).
 */
function transportReason(cause: unknown): string {
  try {
    const err = cause as { message?: unknown; cause?: { code?: unknown; message?: unknown } }
    return textOf(err?.cause?.code ?? err?.cause?.message ?? err?.message ?? cause)
  } catch {
    try {
      return textOf((cause as { message?: unknown })?.message ?? cause)
    } catch {
      return 'a value that cannot be inspected'
    }
  }
}

function inspectable(err: Error, depth = 0): string {
  const inner =
    err.cause instanceof Error && depth < 5 ? inspectable(err.cause, depth + 1) : textOf(err.cause ?? '')
  return `${textOf(err.message)}\n${textOf(err.stack ?? '')}\n${textOf(err, true)}\n${inner}`
}

/**
 * A foreign value as text, for searching and messages. Never throws: a circular property (JSON), an
 * object without a prototype or a throwing toString (String) must not turn a transport error into
 * an untyped TypeError that escapes the retry.
 */
function textOf(value: unknown, json = false): string {
  try {
    return (json ? JSON.stringify(value) : String(value)) ?? ''
  } catch {
    try {
      // JSON failed (circular): the own enumerable string properties are what it would have shown.
      return Object.values(value as object)
        .filter((v): v is string => typeof v === 'string')
        .join('\n')
    } catch {
      return ''
    }
  }
}

/** Rejects with the caller's abort reason as soon as it aborts, without cancelling the shared work. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise
  if (signal.aborted) return Promise.reject(signal.reason)
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort))
  })
}

/**
 * A token source for the OAuth2 client-credentials grant (RFC 6749 §4.4) against any token
 * endpoint. Every option is checked here; each `fetchToken` call is exactly one request (the
 * provider retries). `id` names everything that decides which token comes back (endpoint or
 * issuer, client, auth method, scopes, audience, resources, extra parameters, body format) and
 * never a secret or key. `subscribe(listener)` reports an `auth-method-fallback` event when
 * discovery had to fall back to `client_secret_basic`.
 *
 * @example
 * ```ts
 * import { clientCredentials, createTokenProvider } from '@tokenstash/core'
 *
 * const source = clientCredentials({
 *   tokenEndpoint: 'https://idp.example.com/oauth2/token',
 *   clientId: process.env.CLIENT_ID!,
 *   clientSecret: process.env.CLIENT_SECRET!,
 *   scope: ['orders:read', 'orders:write'],
 * })
 * const orders = createTokenProvider({ source })
 * ```
 */
export function clientCredentials(options: ClientCredentialsOptions): TokenSource {
  return clientCredentialsWith(options, {
    discover: discoverTarget,
    assertion: { signingKey, sign: signClientAssertion },
  })
}

/**
 * What only some configurations use: discovery (`issuer`) and `private_key_jwt` (`privateKey`).
 * `clientCredentials` passes both; `cognito` and `auth0`, which take neither, pass none, so a
 * bundle built for them leaves both modules out.
 */
export interface SourceParts {
  discover?: typeof discoverTarget
  assertion?: { signingKey: typeof signingKey; sign: typeof signClientAssertion }
}

/** {@link clientCredentials} with the parts its options may need (see {@link SourceParts}). */
export function clientCredentialsWith(options: ClientCredentialsOptions, parts: SourceParts): TokenSource {
  if (!isPlainObject(options))
    throw new ConfigError('Expected the options of `clientCredentials` to be an object')
  const o = options as ClientCredentialsOptions
  refuseUnknownOptions('clientCredentials', o, CLIENT_CREDENTIALS_OPTIONS)
  // Only a caller inside core can get here without a part its options need (a programming error).
  const assertion = o.privateKey === undefined ? undefined : required(parts.assertion, 'privateKey')
  const discoverIssuer = o.issuer === undefined ? undefined : required(parts.discover, 'issuer')

  if ((o.tokenEndpoint === undefined) === (o.issuer === undefined)) {
    throw new ConfigError('Expected exactly one of `tokenEndpoint` and `issuer`')
  }
  const configuredEndpoint =
    o.tokenEndpoint === undefined ? undefined : expectEndpointUrl('tokenEndpoint', o.tokenEndpoint).href
  const issuerUrl = o.issuer === undefined ? undefined : expectEndpointUrl('issuer', o.issuer)
  const issuer = issuerUrl?.href.replace(/\/+$/, '')
  const clientId = expectString('clientId', o.clientId)
  const keyId = optionalString('keyId', o.keyId)
  const secretSlot =
    o.clientSecret === undefined
      ? undefined
      : new LazySecret('clientSecret', o.clientSecret, (v) => expectString('clientSecret', v))
  const keySlot =
    o.privateKey === undefined
      ? undefined
      : new LazySecret('privateKey', o.privateKey, (v) => assertion!.signingKey(v as PrivateKeyInput, keyId))
  // Present or to be resolved: what the checks and the method choice go by.
  const clientSecret = secretSlot !== undefined
  const key = keySlot !== undefined
  if (o.privateKey === undefined && o.keyId !== undefined)
    throw new ConfigError('Expected `keyId` only together with `privateKey`')
  const explicitMethod =
    o.authMethod === undefined ? undefined : expectOneOf('authMethod', o.authMethod, AUTH_METHODS)
  if (!clientSecret && !key) {
    throw new ConfigError(
      'Expected `clientSecret` (client_secret_basic/post) or `privateKey` (private_key_jwt), got neither',
    )
  }
  if (explicitMethod === 'private_key_jwt' && !key) {
    throw new ConfigError("Expected `privateKey` with `authMethod: 'private_key_jwt'`")
  }
  if (explicitMethod && explicitMethod !== 'private_key_jwt' && !clientSecret) {
    throw new ConfigError(`Expected \`clientSecret\` with \`authMethod: '${explicitMethod}'\``)
  }
  const scopes = stringList('scope', o.scope)
  const audience = optionalString('audience', o.audience)
  const resources = resourceList(o.resource)
  const extraParams = extraParamList(o.extraParams)
  const bodyFormat =
    o.bodyFormat === undefined ? 'form' : expectOneOf('bodyFormat', o.bodyFormat, ['form', 'json'] as const)
  const tokenTypes = tokenTypeList(o.tokenType)
  const timeoutMs = optionalNumber('timeoutMs', o.timeoutMs, DEFAULTS.timeoutMs, {
    min: 1,
    max: 2_147_483_647,
    integer: true,
  })
  const customFetch = o.fetch === undefined ? undefined : expectFunction<typeof fetch>('fetch', o.fetch)
  const now = o.now === undefined ? Date.now : expectFunction<() => number>('now', o.now)
  // Resolved per call, so a fetch patched after construction (tracing, test interceptors) is used.
  const doFetch: typeof fetch = (input, init) => (customFetch ?? globalThis.fetch)(input, init)

  // With an issuer and no explicit method, the method is the issuer's to choose; the id says so.
  const staticMethod: AuthMethod | undefined =
    explicitMethod ?? (issuer === undefined ? (key ? 'private_key_jwt' : 'client_secret_basic') : undefined)
  const id = `client_credentials:${JSON.stringify({
    ...(configuredEndpoint === undefined ? { issuer } : { tokenEndpoint: configuredEndpoint }),
    clientId,
    authMethod:
      staticMethod ??
      `auto:${key ? 'key' : ''}${key && clientSecret ? '+' : ''}${clientSecret ? 'secret' : ''}`,
    scope: scopes,
    audience: audience ?? null,
    resource: resources,
    extraParams,
    bodyFormat,
  })}`

  /** The secret and its encodings, never to appear in a message. */
  const secretsOf = (secret: string | undefined): string[] =>
    secret
      ? [
          secret,
          formUrlEncode(secret),
          encodeURIComponent(secret),
          Buffer.from(`${formUrlEncode(clientId)}:${formUrlEncode(secret)}`).toString('base64'),
        ]
      : []

  interface Target {
    endpoint: string
    authMethod: AuthMethod
  }
  const listeners = new Set<(event: SourceEvent) => void>()
  const emit = (event: SourceEvent): void => {
    for (const listener of listeners) {
      try {
        listener(event)
      } catch {
        // Observability must never break token fetching.
      }
    }
  }
  const subscribe = (listener: (event: SourceEvent) => void): (() => void) => {
    expectFunction('listener', listener)
    listeners.add(listener)
    return () => listeners.delete(listener)
  }
  let target: Target | undefined = configuredEndpoint
    ? { endpoint: configuredEndpoint, authMethod: staticMethod! }
    : undefined
  let discovering: Promise<Target> | undefined

  function resolveTarget(signal: AbortSignal | undefined): Target | Promise<Target> {
    if (target) return target
    if (!discovering) {
      // One discovery for all concurrent callers, bounded by its own timeout only: one caller
      // giving up must not fail the others. A failure is never kept; the next call tries again.
      const run = discoverIssuer!(issuerUrl!, {
        fetch: doFetch,
        timeoutMs,
        explicitMethod,
        hasSecret: clientSecret,
        hasKey: key,
      }).then((found) => {
        target = { endpoint: found.endpoint, authMethod: found.authMethod }
        if (found.fallbackMessage) {
          emit({ type: 'auth-method-fallback', authMethod: found.authMethod, message: found.fallbackMessage })
        }
        return target
      })
      discovering = run
      run
        .then(
          () => undefined,
          () => undefined,
        )
        .finally(() => {
          if (discovering === run) discovering = undefined
        })
    }
    return untilAborted(discovering, signal)
  }

  async function buildRequest(
    t: Target,
  ): Promise<{ headers: Record<string, string>; body: string; secrets: string[] }> {
    const params: [string, string | string[]][] = [['grant_type', 'client_credentials']]
    const headers: Record<string, string> = { accept: 'application/json' }
    const secret = t.authMethod === 'private_key_jwt' ? undefined : await secretSlot!.get(t.endpoint)
    const secrets = secretsOf(secret)
    if (t.authMethod === 'client_secret_basic') {
      headers.authorization = `Basic ${Buffer.from(`${formUrlEncode(clientId)}:${formUrlEncode(secret!)}`).toString('base64')}`
    } else if (t.authMethod === 'client_secret_post') {
      params.push(['client_id', clientId], ['client_secret', secret!])
    } else {
      const signer = await keySlot!.get(t.endpoint)
      const signed = await assertion!.sign(signer, { clientId, audience: t.endpoint, now: now() })
      secrets.push(signed)
      params.push(['client_assertion_type', JWT_BEARER_ASSERTION_TYPE], ['client_assertion', signed])
    }
    if (scopes.length > 0) params.push(['scope', scopes.join(' ')])
    if (audience !== undefined) params.push(['audience', audience])
    if (resources.length > 0) params.push(['resource', resources.length === 1 ? resources[0]! : resources])
    params.push(...extraParams)

    if (bodyFormat === 'json') {
      headers['content-type'] = 'application/json'
      return { headers, body: JSON.stringify(Object.fromEntries(params)), secrets }
    }
    headers['content-type'] = 'application/x-www-form-urlencoded'
    const form = new URLSearchParams()
    for (const [name, value] of params)
      for (const v of Array.isArray(value) ? value : [value]) form.append(name, v)
    return { headers, body: form.toString(), secrets }
  }

  /**
   * One request; with a resolved secret or key, and an answer that says the credentials are wrong,
   * the resolver is read again (the secret was rotated) and the request sent once more.
   */
  async function fetchToken(signal?: AbortSignal): Promise<TokenSet> {
    try {
      return await requestToken(signal)
    } catch (err) {
      if (!(err instanceof TokenEndpointError) || !credentialsRejected(err)) throw err
      const t = await resolveTarget(signal)
      const slot = t.authMethod === 'private_key_jwt' ? keySlot : secretSlot
      if (!slot?.rotates) throw err
      await slot.rotate(t.endpoint)
      return requestToken(signal)
    }
  }

  async function requestToken(signal?: AbortSignal): Promise<TokenSet> {
    signal?.throwIfAborted()
    const t = await resolveTarget(signal)
    const { headers, body, secrets } = await buildRequest(t)
    signal?.throwIfAborted()
    const timeout = AbortSignal.timeout(timeoutMs)
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout
    const issuedAt = now()

    let response: Response
    let text: string
    let truncated: boolean
    try {
      // Redirects are not followed: a redirected POST would carry the credentials elsewhere.
      response = await doFetch(t.endpoint, {
        method: 'POST',
        headers,
        body,
        signal: combined,
        redirect: 'manual',
      })
      ;({ text, truncated } = await readBody(response))
    } catch (cause) {
      if (signal?.aborted) throw signal.reason
      if (timeout.aborted) {
        throw new TokenEndpointError(
          `Token endpoint ${t.endpoint} timed out after ${timeoutMs} ms. Trying again later can succeed.`,
          {
            endpoint: t.endpoint,
            retryable: true,
            cause,
          },
        )
      }
      throw new TokenEndpointError(
        `Token endpoint ${t.endpoint} could not be reached (${scrub(transportReason(cause).slice(0, 200), secrets)}). Trying again later can succeed; check the URL and the network if it persists.`,
        { endpoint: t.endpoint, retryable: true, cause: safeCause(cause, secrets) },
      )
    }

    // Every answer, refusals included: a 429 says the most about a quota.
    if (listeners.size > 0) for (const q of readQuotas(response.headers, now())) emit({ type: 'quota', ...q })
    if (truncated && response.status >= 200 && response.status <= 299) {
      throw new TokenResponseError(
        `Token endpoint ${t.endpoint} answered ${response.status} with a body over ${MAX_BODY_BYTES} bytes; a token response is a few KiB. Check \`tokenEndpoint\`.`,
        { endpoint: t.endpoint, status: response.status, reason: 'too_large' },
      )
    }
    if (response.status < 200 || response.status > 299) {
      throw endpointError({
        endpoint: t.endpoint,
        status: response.status,
        headers: response.headers,
        body: text,
        now: now(),
        secrets,
        authMethod: t.authMethod,
      })
    }
    return parseTokenResponse(text, {
      endpoint: t.endpoint,
      status: response.status,
      contentType: response.headers.get('content-type'),
      issuedAt,
      now: now(),
      tokenTypes,
    })
  }

  // The longest one fetchToken may take: its request, and discovery before it when an issuer is given.
  const attemptMs = issuerUrl === undefined ? timeoutMs : 2 * timeoutMs
  return { id, fetchToken, subscribe, timeoutMs: attemptMs }
}
