import { TokenResponseError } from '@tokenstash/core'
import fc from 'fast-check'
import { thrownBy } from '../../../test/support/thrown'
import { decodeJwtPayload, jwtExpiresAt } from '../src/jwt'
import {
  MAX_EXPIRES_IN_SECONDS,
  parseTokenResponse,
  type TokenResponseContext,
} from '../src/sources/token-response'

const T0 = 1_800_000_000_000
const ctx: TokenResponseContext = {
  endpoint: 'https://idp.example.com/oauth2/token',
  status: 200,
  contentType: 'application/json',
  issuedAt: T0,
  now: T0 + 150,
  tokenTypes: ['Bearer'],
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
const jwt = (claims: Record<string, unknown>) =>
  `${b64({ alg: 'RS256', typ: 'JWT' })}.${b64(claims)}.c2lnbmF0dXJl`

function reasonOf(body: string, c: TokenResponseContext = ctx): string {
  const err = thrownBy<TokenResponseError>(() => parseTokenResponse(body, c))
  expect(err).toBeInstanceOf(TokenResponseError)
  return err.reason
}

describe('decodeJwtPayload', () => {
  it('should read the claims of a JWS compact token', () => {
    expect(decodeJwtPayload(jwt({ exp: 123, sub: 'svc' }))).toEqual({ exp: 123, sub: 'svc' })
    expect(jwtExpiresAt(jwt({ exp: 123 }))).toBe(123_000)
  })

  it('should treat anything else as opaque', () => {
    for (const token of [
      'opaque-token',
      'a.b.c',
      `${b64({ typ: 'JWT' })}.${b64({ exp: 1 })}.sig`, // no alg: not a JWS header
      `${b64({ alg: 'none' })}.${b64([1, 2])}.sig`,
      `${b64({ alg: 'RS256' })}.${b64({ exp: 1 })}.sig.more.parts`,
      `${b64({ alg: 'RS256' })}.not base64!.sig`,
      '..',
    ]) {
      expect(decodeJwtPayload(token)).toBeUndefined()
    }
    expect(jwtExpiresAt(jwt({ exp: 'soon' }))).toBeUndefined()
    expect(jwtExpiresAt('opaque')).toBeUndefined()
  })

  it('should never throw on arbitrary strings', () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        const claims = decodeJwtPayload(s)
        expect(claims === undefined || typeof claims === 'object').toBe(true)
      }),
    )
  })
})

describe('parseTokenResponse', () => {
  it('should build a token set from expires_in for an opaque token', () => {
    const set = parseTokenResponse(
      '{"access_token":"opaque","token_type":"Bearer","expires_in":3600,"scope":"a b"}',
      ctx,
    )
    expect(set).toEqual({
      accessToken: 'opaque',
      tokenType: 'Bearer',
      issuedAt: T0,
      expiresAt: T0 + 3_600_000,
      scope: 'a b',
    })
  })

  it('should accept a numeric string expires_in and a lower-case token_type', () => {
    const set = parseTokenResponse('{"access_token":"opaque","token_type":"bearer","expires_in":"3600"}', ctx)
    expect(set.expiresAt).toBe(T0 + 3_600_000)
    expect(set.tokenType).toBe('bearer')
    expect(set.scope).toBeUndefined()
  })

  it('should take a missing token_type as Bearer', () => {
    expect(parseTokenResponse('{"access_token":"opaque","expires_in":60}', ctx).tokenType).toBe('Bearer')
    expect(reasonOf('{"access_token":"opaque","expires_in":60}', { ...ctx, tokenTypes: ['DPoP'] })).toBe(
      'bad_token_type',
    )
  })

  it('should use the JWT exp when expires_in is missing', () => {
    const exp = Math.floor(T0 / 1000) + 600
    const set = parseTokenResponse(JSON.stringify({ access_token: jwt({ exp }), token_type: 'Bearer' }), ctx)
    expect(set.expiresAt).toBe(exp * 1000)
  })

  it('should take the earlier of expires_in and the JWT exp', () => {
    const exp = Math.floor(T0 / 1000) + 600
    const token = jwt({ exp })
    expect(parseTokenResponse(JSON.stringify({ access_token: token, expires_in: 3600 }), ctx).expiresAt).toBe(
      exp * 1000,
    )
    expect(parseTokenResponse(JSON.stringify({ access_token: token, expires_in: 60 }), ctx).expiresAt).toBe(
      T0 + 60_000,
    )
  })

  it('should refuse HTML with not_json, naming the content-type and never echoing the body', () => {
    const html = '<html><body>Sign in<input value="opaque-token-in-page"></body></html>'
    let error: TokenResponseError | undefined
    try {
      parseTokenResponse(html, { ...ctx, contentType: 'text/html; charset=utf-8' })
    } catch (err) {
      error = err as TokenResponseError
    }
    expect(error).toBeInstanceOf(TokenResponseError)
    expect(error!.reason).toBe('not_json')
    expect(error!.code).toBe('ERR_TOKEN_RESPONSE')
    expect(error!.status).toBe(200)
    expect(error!.endpoint).toBe(ctx.endpoint)
    expect(error!.message).toContain('content-type text/html')
    expect(error!.message).not.toContain('opaque-token-in-page')
    expect(error!.message).not.toContain('<html>')
  })

  it('should refuse JSON that is not an object with not_json', () => {
    for (const body of ['[]', '"token"', '42', 'null', 'true', '']) expect(reasonOf(body)).toBe('not_json')
  })

  it('should refuse a response without a usable access_token', () => {
    for (const body of [
      '{}',
      '{"access_token":""}',
      '{"access_token":42,"expires_in":60}',
      '{"access_token":null}',
    ]) {
      expect(reasonOf(body)).toBe('missing_access_token')
    }
  })

  it('should name an OAuth error sent with a 200', () => {
    expect(() => parseTokenResponse('{"error":"invalid_client"}', ctx)).toThrow('error invalid_client')
  })

  it('should refuse an unexpected token_type, and accept it when configured', () => {
    expect(reasonOf('{"access_token":"t","token_type":"DPoP","expires_in":60}')).toBe('bad_token_type')
    expect(reasonOf('{"access_token":"t","token_type":7,"expires_in":60}')).toBe('bad_token_type')
    const set = parseTokenResponse('{"access_token":"t","token_type":"DPoP","expires_in":60}', {
      ...ctx,
      tokenTypes: ['Bearer', 'dpop'],
    })
    expect(set.tokenType).toBe('DPoP')
  })

  it.each([
    ['zero', 0],
    ['negative', -5],
    ['below a second', 0.5],
    ['denormal', '5e-324'],
    ['non-numeric string', '"soon"'],
    ['an empty string', '""'],
    ['a boolean', true],
    ['an object', '{"s":60}'],
    ['absurd (over a year)', MAX_EXPIRES_IN_SECONDS + 1],
    ['huge (non-finite in ms)', '1e400'],
  ])('should refuse expires_in that is %s with bad_expires_in', (_what, value) => {
    expect(reasonOf(`{"access_token":"opaque","token_type":"Bearer","expires_in":${value}}`)).toBe(
      'bad_expires_in',
    )
  })

  it('should refuse an opaque token without expires_in with bad_expires_in', () => {
    expect(reasonOf('{"access_token":"opaque","token_type":"Bearer"}')).toBe('bad_expires_in')
    expect(reasonOf('{"access_token":"opaque","token_type":"Bearer","expires_in":null}')).toBe(
      'bad_expires_in',
    )
  })

  it('should refuse a JWT without expires_in and without a usable exp with no_expiry', () => {
    expect(reasonOf(JSON.stringify({ access_token: jwt({ sub: 'svc' }) }))).toBe('no_expiry')
    expect(reasonOf(JSON.stringify({ access_token: jwt({ exp: '9999999999' }) }))).toBe('no_expiry')
    const farAway = Math.floor(T0 / 1000) + MAX_EXPIRES_IN_SECONDS + 3600
    expect(reasonOf(JSON.stringify({ access_token: jwt({ exp: farAway }) }))).toBe('no_expiry')
  })

  it('should refuse a JWT that is already expired with expired_jwt, even with expires_in', () => {
    const past = Math.floor(T0 / 1000) - 10
    expect(reasonOf(JSON.stringify({ access_token: jwt({ exp: past }), expires_in: 3600 }))).toBe(
      'expired_jwt',
    )
    const atNow = (T0 + 150) / 1000
    expect(reasonOf(JSON.stringify({ access_token: jwt({ exp: atNow }), expires_in: 3600 }))).toBe(
      'expired_jwt',
    )
  })

  it('should never put the access token in an error message', () => {
    const token = jwt({ sub: 'svc', secret: 'do-not-print' })
    const bodies = [
      { access_token: token },
      { access_token: token, token_type: token },
      { access_token: token, expires_in: token },
      { access_token: jwt({ exp: 1 }) },
    ]
    for (const body of bodies) {
      try {
        parseTokenResponse(JSON.stringify(body), ctx)
        throw new Error('expected a TokenResponseError')
      } catch (err) {
        expect(err).toBeInstanceOf(TokenResponseError)
        expect((err as Error).message).not.toContain(body.access_token)
        expect((err as Error).message).not.toContain('do-not-print')
      }
    }
  })

  it('should yield a TokenSet or a TokenResponseError for any body (property)', () => {
    const field = fc.oneof(
      fc.jsonValue(),
      fc.string(),
      fc.integer(),
      fc.double(),
      fc.constant(undefined),
      fc.constant('3600'),
      fc.constant('Bearer'),
      fc.integer({ min: 1, max: 2 ** 40 }).map((exp) => jwt({ exp })),
      fc.jsonValue().map((v) => jwt({ exp: v })),
    )
    const tokenBody = fc
      .record(
        { access_token: field, token_type: field, expires_in: field, scope: field, error: field },
        { requiredKeys: [] },
      )
      .map((o) => JSON.stringify(o))
    const body = fc.oneof(
      tokenBody,
      fc.json(),
      fc.string(),
      fc.jsonValue().map((v) => JSON.stringify(v) ?? ''),
    )
    fc.assert(
      fc.property(
        body,
        fc.integer({ min: 0, max: 4_000_000_000_000 }),
        fc.nat(10_000),
        (text, issuedAt, delay) => {
          let set: ReturnType<typeof parseTokenResponse>
          try {
            set = parseTokenResponse(text, { ...ctx, issuedAt, now: issuedAt + delay })
          } catch (err) {
            expect(err).toBeInstanceOf(TokenResponseError)
            return
          }
          expect(typeof set.accessToken).toBe('string')
          expect(set.accessToken.length).toBeGreaterThan(0)
          expect(set.issuedAt).toBe(issuedAt)
          expect(Number.isFinite(set.expiresAt)).toBe(true)
          expect(set.expiresAt).toBeGreaterThan(issuedAt)
          expect(set.expiresAt - issuedAt).toBeLessThanOrEqual(MAX_EXPIRES_IN_SECONDS * 1000)
        },
      ),
      { numRuns: 2000 },
    )
  })

  it('should compute expiresAt as issuedAt + expires_in, capped by the JWT exp (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1_000_000_000_000, max: 3_000_000_000_000 }),
        fc.integer({ min: 1, max: MAX_EXPIRES_IN_SECONDS }),
        fc.option(fc.integer({ min: 1, max: 2 * MAX_EXPIRES_IN_SECONDS }), { nil: undefined }),
        fc.boolean(),
        (issuedAt, expiresIn, jwtLifetime, asString) => {
          const exp = jwtLifetime === undefined ? undefined : Math.floor(issuedAt / 1000) + jwtLifetime
          const token = exp === undefined ? 'opaque' : jwt({ exp })
          const set = parseTokenResponse(
            JSON.stringify({
              access_token: token,
              token_type: 'Bearer',
              expires_in: asString ? String(expiresIn) : expiresIn,
            }),
            { ...ctx, issuedAt, now: issuedAt },
          )
          const fromExpiresIn = issuedAt + expiresIn * 1000
          expect(set.expiresAt).toBe(exp === undefined ? fromExpiresIn : Math.min(fromExpiresIn, exp * 1000))
          expect(set.expiresAt).toBeGreaterThan(issuedAt)
        },
      ),
    )
  })
})
