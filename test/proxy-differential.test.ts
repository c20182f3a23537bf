import { createTokenProxy, type ProxyListener } from '@tokenstash/proxy'
import fc from 'fast-check'
import type { Issuer } from './support/issuer'
import { claimsOf, randomKey } from './support/proxy-client'
import { useServers } from './support/servers'

// Differential test of the proxy's classifier (issue 17): fast-check generates token requests the
// way real and hostile clients write them (form or JSON, `+` or `%20`, upper- or lower-case hex,
// every byte encoded, parameters in the query, the body or both, repeated, in another case,
// Unicode and non-space separators in scopes, Basic or body credentials or both or wrong ones,
// JSON values of other types), sends each straight to the upstream and through a proxy kept warm
// by all the requests before it, and requires the same outcome: refused where the upstream
// refuses; where it issues, a token for the same scope set, audience and client. The upstream is
// oidc-provider for forms and the Auth0-style JSON front of test/support/issuer (audience).

const RUNS = 160

type Encoding = 'uri' | 'plus' | 'lower' | 'every'

function encode(value: string, how: Encoding): string {
  const uri = encodeURIComponent(value)
  if (how === 'plus') return uri.replace(/%20/g, '+')
  if (how === 'lower') return uri.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase())
  if (how === 'every')
    return [...Buffer.from(value)].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join('')
  return uri
}

interface Shape {
  format: 'form' | 'json'
  client: 'basic' | 'post'
  auth: 'basic' | 'basic-lower' | 'body' | 'both' | 'none'
  wrongSecret: boolean
  scopes: string[]
  separator: string
  scopeWhere: 'absent' | 'body' | 'query' | 'both'
  scopeName: 'scope' | 'Scope'
  repeatScope: boolean
  encoding: Encoding
  audience: 'none' | 'ours' | 'other' | 'number'
}

const shapes: fc.Arbitrary<Shape> = fc.record({
  format: fc.constantFrom('form', 'form', 'json'),
  client: fc.constantFrom('basic', 'post'),
  auth: fc.constantFrom('basic', 'basic', 'basic-lower', 'body', 'body', 'both', 'none'),
  wrongSecret: fc.constantFrom(false, false, false, true),
  scopes: fc.array(fc.constantFrom('read', 'write', 'admin', 'réad', 'read'), { maxLength: 3 }),
  separator: fc.constantFrom(' ', ' ', ' ', '  ', '\t', '\u00a0', '\u2003', '\n'),
  scopeWhere: fc.constantFrom('absent', 'body', 'body', 'body', 'query', 'both'),
  scopeName: fc.constantFrom('scope', 'scope', 'scope', 'Scope'),
  repeatScope: fc.constantFrom(false, false, false, true),
  encoding: fc.constantFrom('uri', 'plus', 'lower', 'every'),
  audience: fc.constantFrom('none', 'none', 'ours', 'other', 'number'),
})

function signature(s: Shape): string {
  return JSON.stringify([
    s.format,
    s.client,
    s.auth,
    s.wrongSecret,
    s.scopes.length,
    new Set(s.scopes).size < s.scopes.length,
    s.scopes.includes('réad'),
    s.separator,
    s.scopeWhere,
    s.scopeName,
    s.repeatScope,
    s.format === 'form' ? s.encoding : '-',
    s.format === 'json' ? s.audience : '-',
  ])
}

interface Built {
  /** Auth0's or Cognito's path on the proxy; the upstream has one token endpoint. */
  path: string
  query: string
  headers: Record<string, string>
  body: string
}

function build(issuer: Issuer, s: Shape): Built {
  const client = issuer.clients[s.client]
  const secret = s.wrongSecret ? `${client.clientSecret}x` : client.clientSecret
  const scope = s.scopes.join(s.separator)
  const headers: Record<string, string> = {}
  const basic = Buffer.from(`${encode(client.clientId, 'uri')}:${encode(secret, 'uri')}`).toString('base64')
  if (s.auth === 'basic' || s.auth === 'both') headers.authorization = `Basic ${basic}`
  if (s.auth === 'basic-lower') headers.authorization = `basic ${basic}`
  const bodyCredentials = s.auth === 'body' || s.auth === 'both'
  const inBody = s.scopeWhere === 'body' || s.scopeWhere === 'both'
  const inQuery = s.scopeWhere === 'query' || s.scopeWhere === 'both'
  const query = inQuery ? `?${s.scopeName}=${encode(scope, s.encoding)}` : ''
  if (s.format === 'json') {
    headers['content-type'] = 'application/json'
    const json: Record<string, unknown> = { grant_type: 'client_credentials' }
    if (bodyCredentials) Object.assign(json, { client_id: client.clientId, client_secret: secret })
    if (inBody) json[s.scopeName] = scope
    if (s.audience === 'ours') json.audience = issuer.audience
    if (s.audience === 'other') json.audience = 'https://other.tokenstash.test'
    if (s.audience === 'number') json.audience = 42
    // A repeated member: the last one wins in JSON.parse, as in the upstream's parser.
    const text = JSON.stringify(json)
    const body = s.repeatScope && inBody ? `{"${s.scopeName}":"write",${text.slice(1)}` : text
    return { path: '/oauth/token', query, headers, body }
  }
  headers['content-type'] = 'application/x-www-form-urlencoded'
  const parts = ['grant_type=client_credentials']
  if (bodyCredentials)
    parts.push(
      `client_id=${encode(client.clientId, s.encoding)}`,
      `client_secret=${encode(secret, s.encoding)}`,
    )
  if (inBody) {
    parts.push(`${s.scopeName}=${encode(scope, s.encoding)}`)
    if (s.repeatScope) parts.push(`${s.scopeName}=write`)
  }
  return { path: '/oauth2/token', query, headers, body: parts.join('&') }
}

interface Outcome {
  refused: boolean
  status: number
  scope?: string[]
  aud?: unknown
  client?: unknown
}

async function send(url: string, req: Built): Promise<Outcome & { cache: string | null }> {
  const res = await fetch(`${url}${req.query}`, { method: 'POST', headers: req.headers, body: req.body })
  const cache = res.headers.get('cache-status')
  const body = (await res.json()) as Record<string, unknown>
  if (res.status !== 200) return { refused: true, status: res.status, cache }
  const claims = claimsOf(body.access_token)
  const scope = typeof claims.scope === 'string' ? claims.scope.split(' ').sort() : []
  return { refused: false, status: 200, scope, aud: claims.aud, client: claims.client_id, cache }
}

describe('the proxy against its upstream, differentially', () => {
  const servers = useServers({
    issuer: {
      accessTokenTtlSeconds: 600,
      scopes: ['read', 'write', 'admin'],
      clientSecrets: { basic: 'b@sic secret/+%!x', post: 'p@st secret/+%!x' },
    },
  })
  let listener: ProxyListener

  beforeAll(async () => {
    const proxy = createTokenProxy({ upstream: servers.issuer.tokenEndpoint, hmacKey: randomKey() })
    listener = await proxy.listen(0)
    servers.onStop(() => listener.close())
  })

  it(`should agree with oidc-provider and the Auth0-style front on ${RUNS} generated requests`, async () => {
    const seen = new Set<string>()
    let requests = 0
    let issued = 0
    let hits = 0
    await fc.assert(
      fc.asyncProperty(shapes, async (shape) => {
        seen.add(signature(shape))
        const req = build(servers.issuer, shape)
        const direct = await send(servers.issuer.tokenEndpoint, req)
        const proxied = await send(`${listener.url}${req.path}`, req)
        requests += 2
        if (proxied.cache === 'tokenstash; hit') hits++
        if (!direct.refused) issued++
        expect({
          refused: proxied.refused,
          scope: proxied.scope,
          aud: proxied.aud,
          client: proxied.client,
        }).toEqual({
          refused: direct.refused,
          scope: direct.scope,
          aud: direct.aud,
          client: direct.client,
        })
      }),
      { numRuns: RUNS, seed: 17, endOnFailure: true },
    )
    // The figures the issue asks for, in the test log.
    process.stdout.write(
      `differential: ${requests} requests, ${RUNS} samples, ${seen.size} distinct shapes, ${issued} issued, ${hits} proxy hits\n`,
    )
    expect(seen.size).toBeGreaterThan(RUNS / 2)
    expect(hits).toBeGreaterThan(0)
    expect(issued).toBeGreaterThan(10)
  })
})
