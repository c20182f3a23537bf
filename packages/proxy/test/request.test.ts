import { randomBytes } from 'node:crypto'
import { classify, type IncomingTokenRequest, normaliseScope } from '../src/request'

const options = {
  upstream: 'https://idp.example.com/oauth2/token',
  hmacKey: randomBytes(32),
  otherGrants: 'forward' as const,
  maxBodyBytes: 16_384,
}
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`

function form(body: string, extra: Partial<IncomingTokenRequest> = {}): IncomingTokenRequest {
  return {
    method: 'POST',
    path: '/oauth2/token',
    query: '',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('svc', 's3cret') },
    body: Buffer.from(body),
    ...extra,
  }
}

function keyOf(req: IncomingTokenRequest, opts = options): string {
  const c = classify(req, opts)
  if (c.kind !== 'cache') throw new Error(`expected a cacheable request, got ${JSON.stringify(c)}`)
  return c.key
}

describe('classify', () => {
  it('should key the same request the same way, and never hold the secret in the key', () => {
    const a = keyOf(form('grant_type=client_credentials&scope=read'))
    expect(keyOf(form('grant_type=client_credentials&scope=read'))).toBe(a)
    expect(a).not.toContain('s3cret')
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/)
  })

  it('should give another key for another secret, client, upstream or HMAC key', () => {
    const a = keyOf(form('grant_type=client_credentials'))
    const others = [
      keyOf(
        form('grant_type=client_credentials', {
          headers: { ...form('').headers, authorization: basic('svc', 'other') },
        }),
      ),
      keyOf(
        form('grant_type=client_credentials', {
          headers: { ...form('').headers, authorization: basic('svc2', 's3cret') },
        }),
      ),
      keyOf(form('grant_type=client_credentials'), {
        ...options,
        upstream: 'https://other.example.com/token',
      }),
      keyOf(form('grant_type=client_credentials'), { ...options, hmacKey: randomBytes(32) }),
    ]
    expect(new Set([a, ...others]).size).toBe(5)
  })

  it('should key a scope as a set when it is RFC 6749-shaped, and as sent otherwise', () => {
    const a = keyOf(form('grant_type=client_credentials&scope=read+write'))
    expect(keyOf(form('grant_type=client_credentials&scope=write%20read'))).toBe(a)
    expect(keyOf(form('grant_type=client_credentials&scope=read'))).not.toBe(a)
    // Only %x20 separates scopes (§3.3): doubled spaces, repeats, tabs and other Unicode spaces are
    // keyed as sent, and what they mean is the upstream's answer.
    for (const odd of [
      'write%20%20read',
      'read+write+read',
      'read%09write',
      'read%C2%A0write',
      '+read+write',
    ])
      expect(keyOf(form(`grant_type=client_credentials&scope=${odd}`))).not.toBe(a)
    expect(keyOf(form('grant_type=client_credentials&scope='))).not.toBe(
      keyOf(form('grant_type=client_credentials')),
    )
    expect(normaliseScope('b a')).toBe('a b')
    for (const odd of [' b a', 'b  a', 'a\tb', 'a\u00a0b', 'a a', '', 'caf\u00e9', 'a"b'])
      expect(normaliseScope(odd)).toBeUndefined()
  })

  it('should forward uncached what the upstream might read otherwise: query parameters, odd encodings, charsets', () => {
    const cases: [IncomingTokenRequest, string][] = [
      [form('grant_type=client_credentials', { query: 'scope=admin' }), 'query'],
      [form('grant_type=client_credentials&scope=read', { query: 'scope=read' }), 'query'],
      [form('grant_type=client_credentials&scope=%E0%A4%A'), 'encoding'],
      [form('grant_type=client_credentials&x=%zz'), 'encoding'],
      [
        form('grant_type=client_credentials', {
          headers: { 'content-type': 'application/x-www-form-urlencoded; charset=ISO-8859-1' },
        }),
        'charset',
      ],
      [
        form('{"grant_type":"client_credentials","audience":{"a":1}}', {
          headers: { 'content-type': 'application/json', authorization: basic('svc', 's3cret') },
        }),
        'json-shape',
      ],
      [form('grant_type=client_credentials&grant_type=client_credentials'), 'ambiguous'],
      [form('grant_type=client_credentials&client_secret=x'), 'ambiguous'],
    ]
    for (const [req, reason] of cases) expect(classify(req, options)).toEqual({ kind: 'forward', reason })
    expect(classify(form('grant_type=client_credentials'), options).kind).toBe('cache')
    expect(classify(form('grant_type=client_credentials', { query: '&' }), options).kind).toBe('cache')
    expect(
      classify(form('grant_type=client_credentials', { query: 'scope=a' }), {
        ...options,
        otherGrants: 'refuse',
      }),
    ).toMatchObject({ kind: 'refuse', error: 'invalid_request' })
  })

  it('should key repeated parameters in their order, and JSON values with their type', () => {
    const ab = keyOf(form('grant_type=client_credentials&resource=https%3A%2F%2Fa&resource=https%3A%2F%2Fb'))
    const ba = keyOf(form('grant_type=client_credentials&resource=https%3A%2F%2Fb&resource=https%3A%2F%2Fa'))
    expect(ab).not.toBe(ba)
    expect(
      keyOf(form('resource=https%3A%2F%2Fa&grant_type=client_credentials&resource=https%3A%2F%2Fb')),
    ).toBe(ab)
    const json = (body: unknown) =>
      form(JSON.stringify(body), {
        headers: { 'content-type': 'application/json', authorization: basic('svc', 's3cret') },
      })
    expect(keyOf(json({ grant_type: 'client_credentials', n: 1 }))).not.toBe(
      keyOf(json({ grant_type: 'client_credentials', n: '1' })),
    )
  })

  it('should keep client_secret_basic and client_secret_post apart, and audience and resource in the key', () => {
    const post = form('grant_type=client_credentials&client_id=svc&client_secret=s3cret', {
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    })
    const keys = [
      keyOf(form('grant_type=client_credentials')),
      keyOf(post),
      keyOf(form('grant_type=client_credentials&audience=https%3A%2F%2Fa.example.com')),
      keyOf(form('grant_type=client_credentials&audience=https%3A%2F%2Fb.example.com')),
      keyOf(form('grant_type=client_credentials&resource=https%3A%2F%2Fa&resource=https%3A%2F%2Fb')),
    ]
    expect(new Set(keys).size).toBe(5)
  })

  it('should key an Auth0-style JSON body apart from a form with the same parameters', () => {
    const json = form(JSON.stringify({ grant_type: 'client_credentials', audience: 'https://api' }), {
      headers: { 'content-type': 'application/json', authorization: basic('svc', 's3cret') },
    })
    expect(keyOf(json)).not.toBe(keyOf(form('grant_type=client_credentials&audience=https%3A%2F%2Fapi')))
  })

  it('should refuse what is not a well-formed client_credentials request, with an OAuth error', () => {
    const cases: [IncomingTokenRequest, number, string, RegExp][] = [
      [form('', { method: 'GET' }), 405, 'invalid_request', /POST/],
      [form('x', { body: undefined }), 400, 'invalid_request', /larger than 16384 bytes/],
      [form('scope=read'), 400, 'invalid_request', /Missing grant_type/],
      [
        form('{', { headers: { 'content-type': 'application/json' } }),
        400,
        'invalid_request',
        /not valid JSON/,
      ],
      [
        form('[1]', { headers: { 'content-type': 'application/json' } }),
        400,
        'invalid_request',
        /must be an object/,
      ],
      [form('<xml/>', { headers: { 'content-type': 'text/xml' } }), 400, 'invalid_request', /content-type/],
    ]
    for (const [req, status, error, description] of cases) {
      const c = classify(req, options)
      expect(c).toMatchObject({ kind: 'refuse', status, error })
      expect(c.kind === 'refuse' && c.description).toMatch(description)
    }
  })

  it('should forward other grants, client assertions and anonymous requests, or refuse other grants', () => {
    expect(classify(form('grant_type=refresh_token&refresh_token=x'), options)).toEqual({
      kind: 'forward',
      reason: 'grant',
    })
    expect(classify(form('grant_type=refresh_token'), { ...options, otherGrants: 'refuse' })).toMatchObject({
      kind: 'refuse',
      status: 400,
      error: 'unsupported_grant_type',
    })
    const assertion = form(
      'grant_type=client_credentials&client_assertion=eyJ.x.y&client_assertion_type=jwt',
      {
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      },
    )
    expect(classify(assertion, options)).toMatchObject({ kind: 'forward', reason: 'assertion' })
    const anonymous = form('grant_type=client_credentials', {
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    })
    expect(classify(anonymous, options)).toMatchObject({ kind: 'forward', reason: 'anonymous' })
  })

  it('should list the secret and its encodings for scrubbing', () => {
    const c = classify(form('grant_type=client_credentials'), options)
    expect(c.kind === 'cache' && c.secrets).toEqual(
      expect.arrayContaining(['s3cret', basic('svc', 's3cret')]),
    )
    const secret = 'p@ss w0rd/x\u00e9'
    const post = classify(
      form(
        `grant_type=client_credentials&client_id=svc&client_secret=${encodeURIComponent(secret).replace(/%20/g, '+')}`,
        {
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
        },
      ),
      options,
    )
    expect(post.kind === 'cache' && post.secrets).toEqual(
      expect.arrayContaining([
        secret,
        'p%40ss+w0rd%2Fx%C3%A9',
        'p%40ss%20w0rd%2Fx%C3%A9',
        'p%40ss+w0rd%2fx%c3%a9',
        'p@ss w0rd/x\\u00e9',
      ]),
    )
  })
})
