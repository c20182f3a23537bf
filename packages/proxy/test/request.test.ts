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

  it('should normalise scope order, duplicates and spaces, and take the scope from body or query alike', () => {
    const a = keyOf(form('grant_type=client_credentials&scope=read+write'))
    expect(keyOf(form('grant_type=client_credentials&scope=write%20%20read+write'))).toBe(a)
    expect(keyOf(form('grant_type=client_credentials', { query: 'scope=write+read' }))).toBe(a)
    expect(keyOf(form('grant_type=client_credentials&scope=read'))).not.toBe(a)
    expect(keyOf(form('grant_type=client_credentials&scope='))).toBe(
      keyOf(form('grant_type=client_credentials')),
    )
    expect(normaliseScope(' b a  b ')).toBe('a b')
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
    expect(
      keyOf(form('grant_type=client_credentials&resource=https%3A%2F%2Fb&resource=https%3A%2F%2Fa')),
    ).toBe(keys[4])
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
      [form('grant_type=client_credentials&scope=%E0%A4%A'), 400, 'invalid_request', /percent-encoding/],
      [form('grant_type=client_credentials', { query: 'scope=%zz' }), 400, 'invalid_request', /query string/],
      [form('grant_type=client_credentials&scope=a&scope=b'), 400, 'invalid_request', /"scope" is repeated/],
      [
        form('grant_type=client_credentials', { query: 'grant_type=client_credentials' }),
        400,
        'invalid_request',
        /repeated/,
      ],
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
      [
        form('{"grant_type":{"a":1}}', { headers: { 'content-type': 'application/json' } }),
        400,
        'invalid_request',
        /must be a string/,
      ],
      [form('<xml/>', { headers: { 'content-type': 'text/xml' } }), 400, 'invalid_request', /content-type/],
      [form('grant_type=client_credentials&client_secret=x'), 400, 'invalid_request', /more than one method/],
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
  })
})
