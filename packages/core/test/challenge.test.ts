import {
  bearerChallenge,
  ConfigError,
  isIdempotentMethod,
  isTokenRejection,
  replayOn401,
} from '@tokenstash/core'
import fc from 'fast-check'

const res = (headers: Record<string, unknown>, status = 401) => ({ status, headers })

describe('bearerChallenge', () => {
  it.each([
    ['Bearer', {}],
    ['Bearer realm="api"', {}],
    ['bearer error="invalid_token"', { error: 'invalid_token' }],
    ['Bearer realm="api", error="insufficient_scope", scope="a b"', { error: 'insufficient_scope' }],
    ['Bearer error=invalid_token, error_description="expired, renew it"', { error: 'invalid_token' }],
    ['Basic realm="x", Bearer realm="y", error="invalid_token"', { error: 'invalid_token' }],
    ['DPoP algs="ES256", Bearer error="insufficient_scope"', { error: 'insufficient_scope' }],
    ['Bearer error_description="no error=here", realm="r"', {}],
    ['Basic realm="legacy"', undefined],
    ['', undefined],
  ])('should read %j', (header, expected) => {
    expect(bearerChallenge(header)).toEqual(expected)
  })

  it('should read a header given as several lines', () => {
    expect(bearerChallenge(['Basic realm="x"', 'Bearer error="invalid_token"'])).toEqual({
      error: 'invalid_token',
    })
  })

  it('should find the error of any well-formed Bearer challenge among other parameters', () => {
    const token = fc.stringMatching(/^[a-z_]{1,20}$/)
    const quoted = fc.string({ maxLength: 30 }).map((s) => s.replace(/["\\]/g, ''))
    fc.assert(
      fc.property(token, quoted, quoted, fc.boolean(), (error, realm, description, quote) => {
        const value = quote ? `"${error}"` : error
        const header = `Basic realm="${realm}", Bearer realm="${realm}", error=${value}, error_description="${description}"`
        expect(bearerChallenge(header)).toEqual({ error })
      }),
    )
  })
})

describe('isTokenRejection', () => {
  it('should blame the token on a 401 without a challenge, or with invalid_token or a bare Bearer one', () => {
    expect(isTokenRejection(res({}))).toBe(true)
    expect(isTokenRejection(res({ 'www-authenticate': 'Bearer error="invalid_token"' }))).toBe(true)
    expect(isTokenRejection(res({ 'WWW-Authenticate': 'Bearer realm="api"' }))).toBe(true)
  })

  it('should not blame the token for other causes or statuses', () => {
    expect(isTokenRejection(res({ 'www-authenticate': 'Bearer error="insufficient_scope"' }))).toBe(false)
    expect(isTokenRejection(res({ 'www-authenticate': 'Bearer error="invalid_request"' }))).toBe(false)
    expect(isTokenRejection(res({ 'www-authenticate': 'Basic realm="x"' }))).toBe(false)
    expect(isTokenRejection(res({}, 403))).toBe(false)
    expect(isTokenRejection(undefined)).toBe(false)
  })
})

describe('isTokenRejection with Fetch API headers', () => {
  it('should read WWW-Authenticate from a Response', () => {
    const headers = (value?: string) => new Headers(value === undefined ? {} : { 'WWW-Authenticate': value })
    expect(isTokenRejection(new Response(null, { status: 401, headers: headers() }))).toBe(true)
    expect(
      isTokenRejection(new Response(null, { status: 401, headers: headers('Bearer error="invalid_token"') })),
    ).toBe(true)
    expect(
      isTokenRejection(
        new Response(null, { status: 401, headers: headers('Bearer error="insufficient_scope"') }),
      ),
    ).toBe(false)
  })
})

describe('isIdempotentMethod', () => {
  it.each([
    ['GET', true],
    ['get', true],
    ['Put', true],
    ['DELETE', true],
    ['head', true],
    ['OPTIONS', true],
    ['TRACE', true],
    ['POST', false],
    ['patch', false],
    ['CONNECT', false],
  ])('should say %s → %s', (method, expected) => {
    expect(isIdempotentMethod(method)).toBe(expected)
  })
})

describe('replayOn401', () => {
  it('should replay idempotent methods by default, none with false, and the named ones case-insensitively', () => {
    for (const option of [undefined, true]) {
      const replays = replayOn401(option)
      expect([replays('get'), replays('PUT'), replays('post')]).toEqual([true, true, false])
    }
    expect(replayOn401(false)('GET')).toBe(false)
    const named = replayOn401({ methods: ['post', 'GET'] })
    expect([named('POST'), named('get'), named('put')]).toEqual([true, true, false])
  })

  it.each([
    ['a string', 'yes', 'got yes'],
    ['an object without methods', {}, 'got an object'],
    ['an empty method name', { methods: [''] }, 'got an object'],
    ['null', null, 'got null'],
  ])('should refuse %s with a ConfigError naming retryOn401', (_what, option, got) => {
    expect(() => replayOn401(option)).toThrow(ConfigError)
    expect(() => replayOn401(option)).toThrow(
      `Expected \`retryOn401\` to be a boolean or { methods: string[] }, ${got}`,
    )
  })
})
