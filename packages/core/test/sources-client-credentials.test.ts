import { generateKeyPairSync, webcrypto } from 'node:crypto'
import { inspect } from 'node:util'
import {
  type ClientCredentialsOptions,
  ConfigError,
  clientCredentials,
  TokenEndpointError,
  TokenResponseError,
} from '@tokenstash/core'
import fc from 'fast-check'
import { decodeProtectedHeader, exportJWK, jwtVerify } from 'jose'
import nock from 'nock'
import { rejectionOf } from '../../../test/support/rejection'

const ORIGIN = 'https://idp.example.com'
const ENDPOINT = `${ORIGIN}/oauth2/token`
const SECRET = 'S3cr3t/with+special:chars%and spaces&=é'
const T0 = 1_800_000_000_000
const OK = { access_token: 'opaque-access-token', token_type: 'Bearer', expires_in: 3600 }

interface Captured {
  headers: Record<string, string>
  body: string | Record<string, unknown>
}

/** One nock interceptor on the token endpoint that records what was sent. */
function intercept(
  status = 200,
  reply: unknown = OK,
  headers: Record<string, string> = {},
  path = '/oauth2/token',
) {
  const seen: Captured[] = []
  nock(ORIGIN)
    .post(path)
    .reply(function (_uri, body) {
      seen.push({ headers: this.req.headers as Record<string, string>, body: body as Captured['body'] })
      return [
        status,
        typeof reply === 'string' ? reply : JSON.stringify(reply),
        { 'content-type': 'application/json', ...headers },
      ]
    })
  return seen
}

const base = (extra: Partial<ClientCredentialsOptions> = {}): ClientCredentialsOptions => ({
  tokenEndpoint: ENDPOINT,
  clientId: 'orders-service',
  clientSecret: SECRET,
  now: () => T0,
  ...extra,
})

/** The error, the way it would reach a log: message, JSON and util.inspect (with its cause). */
function everyRendering(err: Error): string {
  return [err.message, String(err.stack), JSON.stringify(err), inspect(err, { depth: 10 })].join('\n')
}

function expectNoSecret(err: Error, secrets: string[] = [SECRET]) {
  const text = everyRendering(err)
  for (const secret of secrets) {
    expect(text).not.toContain(secret)
    expect(text).not.toContain(encodeURIComponent(secret))
    expect(text).not.toContain(new URLSearchParams([['', secret]]).toString().slice(1))
  }
}

beforeAll(() => nock.disableNetConnect())
afterEach(() => {
  nock.cleanAll()
})
afterAll(() => nock.enableNetConnect())

describe('clientCredentials', () => {
  describe('options', () => {
    it.each<[string, Partial<ClientCredentialsOptions> | Record<string, unknown>, string]>([
      [
        'neither endpoint nor issuer',
        { tokenEndpoint: undefined },
        'exactly one of `tokenEndpoint` and `issuer`',
      ],
      ['both endpoint and issuer', { issuer: ORIGIN }, 'exactly one of `tokenEndpoint` and `issuer`'],
      ['a relative endpoint', { tokenEndpoint: '/oauth2/token' }, '`tokenEndpoint`'],
      [
        'http on a public host',
        { tokenEndpoint: 'http://idp.example.com/token' },
        'http is allowed on loopback only',
      ],
      [
        'credentials in the URL',
        { tokenEndpoint: 'https://u:p@idp.example.com/token' },
        'to hold no credentials',
      ],
      [
        'http issuer on a public host',
        { tokenEndpoint: undefined, issuer: 'http://idp.example.com' },
        '`issuer`',
      ],
      ['a missing clientId', { clientId: undefined }, 'Expected `clientId` to be a non-empty string'],
      ['a blank clientId', { clientId: '  ' }, '`clientId`'],
      ['an empty clientSecret', { clientSecret: '' }, '`clientSecret`'],
      ['no secret and no key', { clientSecret: undefined }, 'got neither'],
      [
        'an unknown authMethod',
        { authMethod: 'tls_client_auth' as never },
        'Expected `authMethod` to be one of',
      ],
      ['private_key_jwt without a key', { authMethod: 'private_key_jwt' }, '`privateKey`'],
      ['a keyId without a key', { keyId: 'k1' }, '`keyId` only together with `privateKey`'],
      ['an unknown bodyFormat', { bodyFormat: 'xml' as never }, 'Expected `bodyFormat` to be one of'],
      ['a zero timeoutMs', { timeoutMs: 0 }, 'Expected `timeoutMs` to be an integer'],
      ['a fractional timeoutMs', { timeoutMs: 1.5 }, '`timeoutMs`'],
      ['a string timeoutMs', { timeoutMs: '100' as never }, '`timeoutMs`'],
      ['a numeric scope', { scope: 5 as never }, 'Expected `scope` to be a string or an array of strings'],
      ['a blank audience', { audience: '' }, '`audience`'],
      ['a resource that is not a URI', { resource: 'orders' }, '`resource`'],
      ['a resource with a fragment', { resource: 'https://api.example.com/#x' }, '`resource`'],
      ['an empty resource list', { resource: [] }, '`resource`'],
      ['a non-string extra param', { extraParams: { tenant: 5 as never } }, '`extraParams.tenant`'],
      ['an extra param that sets the secret', { extraParams: { client_secret: 'x' } }, 'dedicated option'],
      ['an extra param that sets the scope', { extraParams: { scope: 'x' } }, 'dedicated option'],
      ['extraParams as an array', { extraParams: [] as never }, '`extraParams`'],
      ['an empty tokenType list', { tokenType: [] }, '`tokenType`'],
      ['a fetch that is not a function', { fetch: 'fetch' as never }, 'Expected `fetch` to be a function'],
      ['a now that is not a function', { now: 5 as never }, 'Expected `now` to be a function'],
    ])('should refuse %s with a ConfigError naming the option', (_what, patch, message) => {
      const options = { ...base(), ...patch } as ClientCredentialsOptions
      for (const [k, v] of Object.entries(patch))
        if (v === undefined) delete (options as unknown as Record<string, unknown>)[k]
      expect(() => clientCredentials(options)).toThrow(ConfigError)
      expect(() => clientCredentials(options)).toThrow(message)
    })

    it('should refuse options that are not an object', () => {
      expect(() => clientCredentials(undefined as never)).toThrow(ConfigError)
      expect(() => clientCredentials('https://idp' as never)).toThrow('to be an object')
    })

    it('should never echo a secret in a ConfigError', () => {
      const err = (() => {
        try {
          clientCredentials({ ...base(), tokenEndpoint: 'http://idp.example.com/token' })
        } catch (e) {
          return e as Error
        }
        throw new Error('expected a ConfigError')
      })()
      expectNoSecret(err)
    })

    it('should accept http on loopback', () => {
      expect(() => clientCredentials(base({ tokenEndpoint: 'http://127.0.0.1:8080/token' }))).not.toThrow()
      expect(() => clientCredentials(base({ tokenEndpoint: 'http://localhost:8080/token' }))).not.toThrow()
    })

    it('should refuse public or symmetric keys', () => {
      const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' })
      const noSecret = { clientSecret: undefined }
      expect(() => clientCredentials(base({ ...noSecret, privateKey: ec.publicKey }))).toThrow(
        'Expected `privateKey` to be a private key, got a public KeyObject',
      )
      const publicJwk = ec.publicKey.export({ format: 'jwk' })
      expect(() => clientCredentials(base({ ...noSecret, privateKey: publicJwk as never }))).toThrow(
        'a private JWK (with `d`)',
      )
      expect(() => clientCredentials(base({ ...noSecret, privateKey: { kty: 'oct', k: 'AAAA' } }))).toThrow(
        'client_secret_jwt is not supported',
      )
      expect(() => clientCredentials(base({ ...noSecret, privateKey: 'PEM' as never }))).toThrow(
        'a CryptoKey, a KeyObject or a JWK',
      )
      const jwk = ec.privateKey.export({ format: 'jwk' })
      expect(() =>
        clientCredentials(base({ ...noSecret, privateKey: { ...jwk, alg: 'HS256' } as never })),
      ).toThrow('a JWK with a signing `alg`')
      const x25519 = generateKeyPairSync('x25519')
      expect(() => clientCredentials(base({ ...noSecret, privateKey: x25519.privateKey }))).toThrow(
        ConfigError,
      )
    })

    it('should refuse a public CryptoKey', async () => {
      const pair = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
        'sign',
        'verify',
      ])) as webcrypto.CryptoKeyPair
      expect(() => clientCredentials(base({ clientSecret: undefined, privateKey: pair.publicKey }))).toThrow(
        'got a public CryptoKey',
      )
    })
  })

  describe('id', () => {
    it('should be the same for the same token, however the options are spelled', () => {
      const a = clientCredentials(
        base({
          scope: 'b a  a',
          resource: ['https://r2.example.com', 'https://r1.example.com'],
          extraParams: { z: '1', a: '2' },
        }),
      )
      const b = clientCredentials(
        base({
          scope: ['a', 'b'],
          resource: ['https://r1.example.com', 'https://r2.example.com', 'https://r1.example.com'],
          extraParams: { a: '2', z: '1' },
          clientSecret: 'another-secret-entirely',
          timeoutMs: 5,
          tokenType: ['Bearer', 'DPoP'],
        }),
      )
      expect(a.id).toBe(b.id)
    })

    it('should hold no secret and no key material', () => {
      const source = clientCredentials(base())
      expect(source.id).not.toContain(SECRET)
      expect(source.id).not.toContain(encodeURIComponent(SECRET))
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
      const jwk = privateKey.export({ format: 'jwk' })
      const keyed = clientCredentials(base({ clientSecret: undefined, privateKey: jwk as never }))
      expect(keyed.id).not.toContain(jwk.d!)
      expect(keyed.id).toContain('private_key_jwt')
    })

    it('should differ whenever the token would differ (property)', () => {
      const word = fc.stringMatching(/^[a-z0-9]{1,8}$/)
      const identity = fc.record({
        endpoint: fc.oneof(
          word.map((w) => ({ tokenEndpoint: `https://${w}.example.com/token` })),
          word.map((w) => ({ issuer: `https://${w}.example.com` })),
        ),
        clientId: word,
        authMethod: fc.constantFrom('client_secret_basic', 'client_secret_post') as fc.Arbitrary<
          'client_secret_basic' | 'client_secret_post'
        >,
        scope: fc.uniqueArray(word, { maxLength: 3 }),
        audience: fc.option(word, { nil: undefined }),
        resource: fc.uniqueArray(
          word.map((w) => `https://${w}.example.com/`),
          { maxLength: 3 },
        ),
        extraParams: fc.dictionary(word, word, { maxKeys: 3 }),
        bodyFormat: fc.constantFrom('form', 'json') as fc.Arbitrary<'form' | 'json'>,
      })
      type Identity = typeof identity extends fc.Arbitrary<infer T> ? T : never
      const make = (i: Identity, secret: string) =>
        clientCredentials({
          ...i.endpoint,
          clientId: i.clientId,
          clientSecret: secret,
          authMethod: i.authMethod,
          scope: i.scope,
          audience: i.audience,
          resource: i.resource.length ? i.resource : undefined,
          extraParams: i.extraParams,
          bodyFormat: i.bodyFormat,
        })
      const canonical = (i: Identity) =>
        JSON.stringify({
          ...i,
          scope: [...i.scope].sort(),
          resource: [...i.resource].sort(),
          extraParams: Object.entries(i.extraParams).sort(),
        })
      fc.assert(
        fc.property(identity, identity, fc.stringMatching(/^SECRET-[A-Z]{6,12}$/), (a, b, secret) => {
          const idA = make(a, secret).id
          const idB = make(b, `${secret}-other`).id
          expect(idA === idB).toBe(canonical(a) === canonical(b))
          expect(idA).not.toContain(secret)
        }),
        { numRuns: 500 },
      )
    })

    it('should differ per field when one field changes (property)', () => {
      const variants: Array<Partial<ClientCredentialsOptions>> = [
        { tokenEndpoint: `${ORIGIN}/other/token` },
        { clientId: 'billing-service' },
        { authMethod: 'client_secret_post' },
        { scope: 'orders:read' },
        { audience: 'https://orders.example.com' },
        { resource: 'https://orders.example.com' },
        { extraParams: { tenant: 'acme' } },
        { bodyFormat: 'json' },
      ]
      const ids = new Set([
        clientCredentials(base()).id,
        ...variants.map((v) => clientCredentials(base(v)).id),
      ])
      expect(ids.size).toBe(variants.length + 1)
      fc.assert(
        fc.property(
          fc.subarray(variants, { minLength: 1 }),
          fc.subarray(variants, { minLength: 1 }),
          (x, y) => {
            const a = clientCredentials(base(Object.assign({}, ...x))).id
            const b = clientCredentials(base(Object.assign({}, ...y))).id
            const same = x.length === y.length && x.every((v) => y.includes(v))
            expect(a === b).toBe(same)
          },
        ),
      )
    })
  })

  describe('request', () => {
    it('should send client_secret_basic with form-encoded credentials (RFC 6749 §2.3.1)', async () => {
      const seen = intercept()
      const set = await clientCredentials(base({ clientId: 'id:with space+plus' })).fetchToken()
      expect(set).toEqual({
        accessToken: 'opaque-access-token',
        tokenType: 'Bearer',
        issuedAt: T0,
        expiresAt: T0 + 3_600_000,
      })
      const { headers, body } = seen[0]!
      const encoded = Buffer.from(
        'id%3Awith+space%2Bplus:S3cr3t%2Fwith%2Bspecial%3Achars%25and+spaces%26%3D%C3%A9',
      ).toString('base64')
      expect(headers.authorization).toBe(`Basic ${encoded}`)
      expect(headers.accept).toBe('application/json')
      expect(headers['content-type']).toBe('application/x-www-form-urlencoded')
      expect(body).toBe('grant_type=client_credentials')
    })

    it('should send client_secret_post credentials in the body and no Authorization header', async () => {
      const seen = intercept()
      await clientCredentials(base({ authMethod: 'client_secret_post', scope: 'b a' })).fetchToken()
      const { headers, body } = seen[0]!
      expect(headers.authorization).toBeUndefined()
      const form = new URLSearchParams(body as string)
      expect([...form]).toEqual([
        ['grant_type', 'client_credentials'],
        ['client_id', 'orders-service'],
        ['client_secret', SECRET],
        ['scope', 'a b'],
      ])
    })

    it('should send scope, audience, repeated resource and extra params in a form body', async () => {
      const seen = intercept()
      await clientCredentials(
        base({
          scope: ['orders:write', 'orders:read'],
          audience: 'https://orders.example.com',
          resource: ['https://b.example.com/', 'https://a.example.com/'],
          extraParams: { organization: 'org_123' },
        }),
      ).fetchToken()
      const form = new URLSearchParams(seen[0]!.body as string)
      expect(form.get('grant_type')).toBe('client_credentials')
      expect(form.get('scope')).toBe('orders:read orders:write')
      expect(form.get('audience')).toBe('https://orders.example.com')
      expect(form.getAll('resource')).toEqual(['https://a.example.com/', 'https://b.example.com/'])
      expect(form.get('organization')).toBe('org_123')
      expect(form.has('client_secret')).toBe(false)
    })

    it('should send a JSON body when bodyFormat is json', async () => {
      const seen = intercept()
      await clientCredentials(
        base({
          authMethod: 'client_secret_post',
          bodyFormat: 'json',
          audience: 'https://orders.example.com',
          resource: ['https://b.example.com/', 'https://a.example.com/'],
        }),
      ).fetchToken()
      expect(seen[0]!.headers['content-type']).toBe('application/json')
      expect(seen[0]!.body).toEqual({
        grant_type: 'client_credentials',
        client_id: 'orders-service',
        client_secret: SECRET,
        audience: 'https://orders.example.com',
        resource: ['https://a.example.com/', 'https://b.example.com/'],
      })
    })

    it('should take issuedAt just before sending', async () => {
      let clock = T0
      const fetchSlowly: typeof fetch = async (input, init) => {
        clock += 5_000 // the response takes 5 s to arrive
        return globalThis.fetch(input, init)
      }
      intercept()
      const set = await clientCredentials(base({ now: () => clock, fetch: fetchSlowly })).fetchToken()
      expect(set.issuedAt).toBe(T0)
      expect(set.expiresAt).toBe(T0 + 3_600_000)
    })

    it('should use the injected fetch', async () => {
      const calls: string[] = []
      const fake: typeof fetch = async (input, init) => {
        calls.push(`${init?.method} ${String(input)}`)
        return new Response(JSON.stringify(OK), {
          status: 200,
          headers: { 'content-type': 'application/json' },
        })
      }
      const set = await clientCredentials(base({ fetch: fake })).fetchToken()
      expect(calls).toEqual([`POST ${ENDPOINT}`])
      expect(set.accessToken).toBe('opaque-access-token')
    })

    it('should accept a configured token type', async () => {
      intercept(200, { ...OK, token_type: 'N_A' })
      const set = await clientCredentials(base({ tokenType: 'n_a' })).fetchToken()
      expect(set.tokenType).toBe('N_A')
    })
  })

  describe('private_key_jwt', () => {
    async function assertionFrom(
      privateKey: ClientCredentialsOptions['privateKey'],
      extra: Partial<ClientCredentialsOptions> = {},
    ) {
      const seen = intercept()
      const source = clientCredentials({
        tokenEndpoint: ENDPOINT,
        clientId: 'orders-service',
        privateKey,
        now: () => T0,
        ...extra,
      })
      await source.fetchToken()
      const form = new URLSearchParams(seen[0]!.body as string)
      expect(form.get('grant_type')).toBe('client_credentials')
      expect(form.get('client_assertion_type')).toBe('urn:ietf:params:oauth:client-assertion-type:jwt-bearer')
      expect(form.has('client_secret')).toBe(false)
      expect(seen[0]!.headers.authorization).toBeUndefined()
      return form.get('client_assertion')!
    }

    it('should sign an RFC 7523 assertion that verifies against the public key (EC JWK)', async () => {
      const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
      const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'key-2026' }
      const assertion = await assertionFrom(jwk as never)
      const { payload, protectedHeader } = await jwtVerify(assertion, publicKey, {
        issuer: 'orders-service',
        subject: 'orders-service',
        audience: ENDPOINT,
        currentDate: new Date(T0),
      })
      expect(protectedHeader).toMatchObject({ alg: 'ES256', kid: 'key-2026' })
      expect(payload.iat).toBe(T0 / 1000)
      expect(payload.exp).toBe(T0 / 1000 + 60)
      expect(typeof payload.jti).toBe('string')
    })

    it('should use a fresh jti for every request', async () => {
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
      const source = clientCredentials({ tokenEndpoint: ENDPOINT, clientId: 'c', privateKey, now: () => T0 })
      const first = intercept()
      const second = intercept()
      await source.fetchToken()
      await source.fetchToken()
      const jti = (captured: Captured) =>
        decodeJwt(new URLSearchParams(captured.body as string).get('client_assertion')!).jti
      expect(typeof jti(first[0]!)).toBe('string')
      expect(jti(first[0]!)).not.toBe(jti(second[0]!))
    })

    it.each([
      ['an RSA KeyObject', () => generateKeyPairSync('rsa', { modulusLength: 2048 }), 'RS256'],
      ['a P-384 KeyObject', () => generateKeyPairSync('ec', { namedCurve: 'P-384' }), 'ES384'],
      ['a P-521 KeyObject', () => generateKeyPairSync('ec', { namedCurve: 'P-521' }), 'ES512'],
      ['an Ed25519 KeyObject', () => generateKeyPairSync('ed25519'), 'EdDSA'],
    ])('should infer the alg of %s', async (_what, make, alg) => {
      const { privateKey, publicKey } = make()
      const assertion = await assertionFrom(privateKey, { keyId: 'explicit-kid' })
      const { protectedHeader } = await jwtVerify(assertion, publicKey, { currentDate: new Date(T0) })
      expect(protectedHeader.alg).toBe(alg)
      expect(protectedHeader.kid).toBe('explicit-kid')
    })

    it('should sign with a CryptoKey and honour the JWK alg', async () => {
      const pair = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
        'sign',
        'verify',
      ])) as webcrypto.CryptoKeyPair
      const fromCryptoKey = await assertionFrom(pair.privateKey)
      expect(decodeProtectedHeader(fromCryptoKey)).toEqual({ alg: 'ES256', typ: 'JWT' })
      await jwtVerify(fromCryptoKey, pair.publicKey, { currentDate: new Date(T0) })

      const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
      const jwk = { ...(await exportJWK(rsa.privateKey)), alg: 'PS256' }
      const fromJwk = await assertionFrom(jwk)
      expect(decodeProtectedHeader(fromJwk).alg).toBe('PS256')
      await jwtVerify(fromJwk, rsa.publicKey, { currentDate: new Date(T0) })
    })

    it('should prefer private_key_jwt when both a key and a secret are given, unless told otherwise', async () => {
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
      let seen = intercept()
      await clientCredentials(base({ privateKey })).fetchToken()
      expect(new URLSearchParams(seen[0]!.body as string).has('client_assertion')).toBe(true)
      seen = intercept()
      await clientCredentials(base({ privateKey, authMethod: 'client_secret_basic' })).fetchToken()
      expect(seen[0]!.headers.authorization).toMatch(/^Basic /)
    })

    it('should surface a key that cannot sign for its alg as a ConfigError', async () => {
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
      const jwk = { ...privateKey.export({ format: 'jwk' }), alg: 'ES384' }
      const scope = nock(ORIGIN).post('/oauth2/token').reply(200, OK)
      const err = await rejectionOf(
        clientCredentials({ tokenEndpoint: ENDPOINT, clientId: 'c', privateKey: jwk as never }).fetchToken(),
      )
      expect(err).toBeInstanceOf(ConfigError)
      expect(err.message).toContain('`privateKey`')
      expect(everyRendering(err)).not.toContain(jwk.d!)
      expect(scope.isDone()).toBe(false)
    })
  })

  describe('errors', () => {
    it('should turn a network failure into a retryable TokenEndpointError with the cause', async () => {
      nock(ORIGIN).post('/oauth2/token').replyWithError({ code: 'ECONNRESET', message: 'socket hang up' })
      const err = (await rejectionOf(clientCredentials(base()).fetchToken())) as TokenEndpointError
      expect(err).toBeInstanceOf(TokenEndpointError)
      expect(err.code).toBe('ERR_TOKEN_ENDPOINT')
      expect(err.retryable).toBe(true)
      expect(err.status).toBeUndefined()
      expect(err.endpoint).toBe(ENDPOINT)
      expect(err.cause).toBeDefined()
      expect(err.message).toContain(ENDPOINT)
      expectNoSecret(err)
    })

    /** A fetch that never answers, and fails with the signal's reason once it aborts, as fetch does. */
    function hangingFetch() {
      let started!: () => void
      const sent = new Promise<void>((resolve) => {
        started = resolve
      })
      const fake: typeof fetch = (_input, init) =>
        new Promise((_resolve, reject) => {
          const signal = init!.signal!
          if (signal.aborted) return reject(signal.reason)
          signal.addEventListener('abort', () => reject(signal.reason))
          started()
        })
      return { fake, sent }
    }

    it('should scrub the secret from a transport error that echoes it, cause included', async () => {
      const leaky: typeof fetch = async () => {
        throw Object.assign(new TypeError(`proxy refused body client_secret=${SECRET}`), {
          code: 'EPROXY',
          cause: new Error(`inner ${SECRET}`),
        })
      }
      const err = (await rejectionOf(
        clientCredentials(base({ fetch: leaky })).fetchToken(),
      )) as TokenEndpointError
      expect(err.retryable).toBe(true)
      expect(err.message).toContain('[redacted]')
      expect((err.cause as { code?: string }).code).toBe('EPROXY')
      expect((err.cause as Error).name).toBe('TypeError')
      expectNoSecret(err)
    })

    it.each([
      [
        'an error with a circular property',
        () => Object.assign(new Error('socket closed'), { self: {} as unknown }),
      ],
      ['an object without a prototype', () => Object.create(null) as unknown],
      [
        'an object whose toString throws',
        () => ({
          toString() {
            throw new Error('no text')
          },
        }),
      ],
    ])('should wrap %s from a custom fetch as a retryable TokenEndpointError', async (_name, make) => {
      const thrown = make()
      if (thrown instanceof Error) (thrown as unknown as { self: unknown }).self = thrown
      const odd: typeof fetch = async () => {
        throw thrown
      }
      const err = (await rejectionOf(
        clientCredentials(base({ fetch: odd })).fetchToken(),
      )) as TokenEndpointError
      expect(err).toBeInstanceOf(TokenEndpointError)
      expect(err.retryable).toBe(true)
      expect(err.cause).toBe(thrown)
      expect(err.message).toContain('could not be reached')
    })

    it('should turn a timeout into a retryable error that says so', async () => {
      const { fake } = hangingFetch()
      const err = (await rejectionOf(
        clientCredentials(base({ fetch: fake, timeoutMs: 20 })).fetchToken(),
      )) as TokenEndpointError
      expect(err).toBeInstanceOf(TokenEndpointError)
      expect(err.retryable).toBe(true)
      expect(err.message).toContain('timed out after 20 ms')
      expect((err.cause as Error).name).toBe('TimeoutError')
      expectNoSecret(err)
    })

    it('should rethrow the caller abort reason unchanged while the request is in flight', async () => {
      const { fake, sent } = hangingFetch()
      const controller = new AbortController()
      const reason = new Error('caller went away')
      const pending = clientCredentials(base({ fetch: fake })).fetchToken(controller.signal)
      await sent
      controller.abort(reason)
      await expect(pending).rejects.toBe(reason)
    })

    it('should rethrow the caller abort reason when it aborts before the request is sent', async () => {
      const calls: unknown[] = []
      const fake: typeof fetch = async (input) => {
        calls.push(input)
        return new Response('{}')
      }
      const controller = new AbortController()
      const reason = new Error('caller went away')
      const pending = clientCredentials(base({ fetch: fake })).fetchToken(controller.signal)
      controller.abort(reason)
      await expect(pending).rejects.toBe(reason)
      expect(calls).toHaveLength(0)
    })

    it('should not send anything for an already aborted signal', async () => {
      const calls: unknown[] = []
      const fake: typeof fetch = async (input) => {
        calls.push(input)
        return new Response('{}')
      }
      const reason = new Error('already gone')
      await expect(
        clientCredentials(base({ fetch: fake })).fetchToken(AbortSignal.abort(reason)),
      ).rejects.toBe(reason)
      expect(calls).toHaveLength(0)
    })

    it('should explain invalid_client without retrying and without the secret', async () => {
      intercept(401, { error: 'invalid_client', error_description: `Bad secret ${SECRET} for client` })
      const err = (await rejectionOf(clientCredentials(base()).fetchToken())) as TokenEndpointError
      expect(err).toBeInstanceOf(TokenEndpointError)
      expect(err.status).toBe(401)
      expect(err.error).toBe('invalid_client')
      expect(err.retryable).toBe(false)
      expect(err.errorDescription).toBe('Bad secret [redacted] for client')
      expect(err.message).toContain(`Token endpoint ${ENDPOINT} answered 401 invalid_client`)
      expect(err.message).toContain('Check the client id, the client secret or key, and the auth method')
      expectNoSecret(err)
    })

    it('should scrub the secret in every encoding the endpoint may echo', async () => {
      const basic = Buffer.from(
        `orders-service:${new URLSearchParams([['', SECRET]]).toString().slice(1)}`,
      ).toString('base64')
      const echoed = `got client_secret=${encodeURIComponent(SECRET)} / ${new URLSearchParams([['', SECRET]]).toString().slice(1)} / Basic ${basic}`
      intercept(400, { error: 'invalid_request', error_description: echoed })
      const err = (await rejectionOf(clientCredentials(base()).fetchToken())) as TokenEndpointError
      expect(err.errorDescription).not.toContain(basic)
      expectNoSecret(err)
    })

    it('should truncate a long error_description', async () => {
      intercept(400, { error: 'invalid_request', error_description: 'x'.repeat(5000) })
      const err = (await rejectionOf(clientCredentials(base()).fetchToken())) as TokenEndpointError
      expect(err.errorDescription!.length).toBeLessThanOrEqual(301)
      expect(err.message.length).toBeLessThan(700)
    })

    it.each([
      [400, 'invalid_scope', false, 'Check `scope`'],
      [400, 'unauthorized_client', false, 'client_credentials grant'],
      [400, 'invalid_target', false, 'Check `resource` and `audience`'],
      [400, 'unsupported_grant_type', false, 'grant_type=client_credentials'],
      [403, 'access_denied', false, 'authorized for the requested audience'],
      [403, undefined, false, 'Check the client id'],
      [404, undefined, false, 'Check `tokenEndpoint`'],
      [408, undefined, true, 'trying again later can succeed'],
      [425, undefined, true, 'trying again later can succeed'],
      [429, undefined, true, 'Rate limited'],
      [500, 'server_error', true, 'trying again later can succeed'],
      [502, undefined, true, 'trying again later can succeed'],
      [503, 'temporarily_unavailable', true, 'trying again later can succeed'],
    ])('should map %i %s to retryable=%s with advice', async (status, error, retryable, advice) => {
      intercept(status, error ? { error } : {})
      const err = (await rejectionOf(clientCredentials(base()).fetchToken())) as TokenEndpointError
      expect(err).toBeInstanceOf(TokenEndpointError)
      expect(err.status).toBe(status)
      expect(err.error).toBe(error)
      expect(err.retryable).toBe(retryable)
      expect(err.message).toContain(`answered ${status}`)
      expect(err.message).toContain(advice)
    })

    it('should tolerate an HTML or garbage error body', async () => {
      intercept(502, '<html><body><h1>502 Bad Gateway</h1></body></html>', { 'content-type': 'text/html' })
      let err = (await rejectionOf(clientCredentials(base()).fetchToken())) as TokenEndpointError
      expect(err.status).toBe(502)
      expect(err.retryable).toBe(true)
      expect(err.error).toBeUndefined()
      expect(err.message).not.toContain('<html>')
      intercept(400, '{"error": ')
      err = (await rejectionOf(clientCredentials(base()).fetchToken())) as TokenEndpointError
      expect(err.status).toBe(400)
      expect(err.error).toBeUndefined()
      intercept(400, { error: { nested: true }, error_description: 42 })
      err = (await rejectionOf(clientCredentials(base()).fetchToken())) as TokenEndpointError
      expect(err.error).toBeUndefined()
      expect(err.errorDescription).toBeUndefined()
    })

    it('should read Retry-After in delta seconds', async () => {
      intercept(429, { error: 'rate_limited' }, { 'retry-after': '7' })
      const err = (await rejectionOf(clientCredentials(base()).fetchToken())) as TokenEndpointError
      expect(err.retryAfterMs).toBe(7_000)
      expect(err.retryable).toBe(true)
    })

    it('should read Retry-After as an HTTP-date against the injected clock', async () => {
      intercept(503, '', { 'retry-after': new Date(T0 + 30_000).toUTCString() })
      const err = (await rejectionOf(clientCredentials(base()).fetchToken())) as TokenEndpointError
      expect(err.retryAfterMs).toBe(30_000)
      intercept(503, '', { 'retry-after': new Date(T0 - 30_000).toUTCString() })
      const past = (await rejectionOf(clientCredentials(base()).fetchToken())) as TokenEndpointError
      expect(past.retryAfterMs).toBe(0)
      intercept(503, '', { 'retry-after': 'soon' })
      const junk = (await rejectionOf(clientCredentials(base()).fetchToken())) as TokenEndpointError
      expect(junk.retryAfterMs).toBeUndefined()
    })

    it('should read x-ratelimit-reset on a 429 without Retry-After, and only then', async () => {
      const reset = String(T0 / 1000 + 12)
      intercept(429, '', {
        'x-ratelimit-limit': '10',
        'x-ratelimit-remaining': '0',
        'x-ratelimit-reset': reset,
      })
      const err = (await rejectionOf(clientCredentials(base()).fetchToken())) as TokenEndpointError
      expect(err.retryAfterMs).toBe(12_000)
      expect(err.message).toContain('retry in 12 s')
      intercept(429, '', { 'retry-after': '3', 'x-ratelimit-reset': reset })
      const both = (await rejectionOf(clientCredentials(base()).fetchToken())) as TokenEndpointError
      expect(both.retryAfterMs).toBe(3_000)
      intercept(503, '', { 'x-ratelimit-reset': reset })
      const notRateLimited = (await rejectionOf(clientCredentials(base()).fetchToken())) as TokenEndpointError
      expect(notRateLimited.retryAfterMs).toBeUndefined()
    })

    it('should not follow a redirect with the credentials', async () => {
      const seen = intercept(307, '', { location: 'https://elsewhere.example.com/token' })
      const elsewhere = nock('https://elsewhere.example.com').post('/token').reply(200, OK)
      const err = (await rejectionOf(
        clientCredentials(base({ authMethod: 'client_secret_post' })).fetchToken(),
      )) as TokenEndpointError
      expect(err).toBeInstanceOf(TokenEndpointError)
      expect(err.status).toBe(307)
      expect(err.retryable).toBe(false)
      expect(err.message).toContain('redirected')
      expect(seen).toHaveLength(1)
      expect(elsewhere.isDone()).toBe(false)
    })

    it('should refuse a 200 HTML page as not_json', async () => {
      intercept(200, '<!doctype html><title>Login</title>', { 'content-type': 'text/html; charset=utf-8' })
      const err = (await rejectionOf(clientCredentials(base()).fetchToken())) as TokenResponseError
      expect(err).toBeInstanceOf(TokenResponseError)
      expect(err.reason).toBe('not_json')
      expect(err.message).toContain('text/html')
      expect(err.message).not.toContain('Login')
    })

    it('should refuse a 200 with a bad expires_in', async () => {
      intercept(200, { access_token: 'opaque', token_type: 'Bearer', expires_in: -1 })
      const err = (await rejectionOf(clientCredentials(base()).fetchToken())) as TokenResponseError
      expect(err.reason).toBe('bad_expires_in')
      expect(err.message).not.toContain('opaque')
    })
  })
})

function decodeJwt(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString())
}
