import { inspect } from 'node:util'
import { attachToken, retryDelay } from '@tokenstash/axios'
import { ConfigError, TokenEndpointError, TokenRejectedError } from '@tokenstash/core'
import axios, { type AxiosAdapter, AxiosError, type AxiosInstance, type AxiosRequestConfig } from 'axios'
import nock from 'nock'
import { rejectionOf } from '../../../test/support/rejection'
import { type FakeProvider, fakeProvider } from './fake-provider'

const API = 'https://api.example.test'
const OTHER = 'https://other.example.test'
const NO_DELAY = { retryDelay: () => 0 }

/**
 * An adapter whose first `failures` calls fail like a reset connection. nock's replyWithError races
 * with axios over the mock socket's error event, so network errors are made here instead (the
 * integration tests drop real connections).
 */
function flakyAdapter(failures: number): { adapter: AxiosAdapter; auth: Array<string | undefined> } {
  const auth: Array<string | undefined> = []
  let calls = 0
  const adapter: AxiosAdapter = async (config) => {
    auth.push(config.headers.get('Authorization') as string | undefined)
    if (calls++ < failures) throw new AxiosError('socket hang up', 'ECONNRESET', config, { fake: 'request' })
    return { data: '', status: 204, statusText: 'No Content', headers: {}, config }
  }
  return { adapter, auth }
}
const INVALID = {
  'WWW-Authenticate': 'Bearer realm="api", error="invalid_token", error_description="expired"',
}

/** Records the Authorization header of each request nock answers. */
function seen(): {
  auth: Array<string | undefined>
  reply: (
    status: number,
    headers?: Record<string, string>,
  ) => (this: nock.ReplyFnContext) => nock.ReplyFnResult
} {
  const auth: Array<string | undefined> = []
  return {
    auth,
    reply: (status, headers = {}) =>
      function (this: nock.ReplyFnContext) {
        const value = this.req.headers.authorization
        auth.push(Array.isArray(value) ? value.join(',') : value)
        return [status, { status }, headers]
      },
  }
}

/** Every thrown error must be free of every token the provider ever handed out. */
function expectNoToken(error: unknown, provider: FakeProvider): void {
  expect(provider.issued.length).toBeGreaterThan(0)
  const texts = {
    json: JSON.stringify(error),
    inspect: inspect(error),
    deep: inspect(error, { depth: Number.POSITIVE_INFINITY, showHidden: true }),
    string: String(error),
  }
  // Report where a token leaked, not the whole (huge) serialisation.
  const leaks = Object.entries(texts).flatMap(([how, text]) =>
    provider.issued
      .filter((t) => text.includes(t))
      .map((t) => `${how}: …${text.slice(text.indexOf(t) - 80, text.indexOf(t))}`),
  )
  expect(leaks).toEqual([])
}

let provider: FakeProvider
let api: AxiosInstance

beforeAll(() => nock.disableNetConnect())
afterAll(() => nock.enableNetConnect())
beforeEach(() => {
  provider = fakeProvider()
  api = axios.create({ baseURL: API })
})
afterEach(() => {
  const pending = nock.pendingMocks()
  nock.cleanAll()
  expect(pending).toEqual([])
})

/**
 * Attaches the provider to `api`, sends one GET of `path` with `config`, and returns the
 * Authorization headers `origin` received (one per request).
 */
async function authorizationOfOneGet(origin: string, path: string, config: AxiosRequestConfig) {
  attachToken(api, provider)
  const s = seen()
  nock(origin).get(path).reply(s.reply(200))
  await api.get(path, config)
  return s.auth
}

describe('attachToken', () => {
  describe('attaching', () => {
    it('should send the provider token as a bearer token to the baseURL origin', async () => {
      attachToken(api, provider)
      const s = seen()
      nock(API).get('/orders/1').reply(s.reply(200))
      const res = await api.get('/orders/1')
      expect(res.status).toBe(200)
      expect(s.auth).toEqual([`Bearer ${provider.issued[0]}`])
    })

    it('should reuse the cached token across requests', async () => {
      attachToken(api, provider)
      const s = seen()
      nock(API).get('/a').times(3).reply(s.reply(200))
      await Promise.all([api.get('/a'), api.get('/a')])
      await api.get('/a')
      expect(new Set(s.auth)).toEqual(new Set([`Bearer ${provider.issued[0]}`]))
      expect(provider.stats().fetches).toBe(1)
    })

    it('should send no token to another host named by an absolute URL', async () => {
      attachToken(api, provider)
      const s = seen()
      nock(OTHER).get('/steal').reply(s.reply(200))
      nock('http://api.example.test').get('/plain').reply(s.reply(200))
      nock('https://api.example.test:8443').get('/port').reply(s.reply(200))
      await api.get(`${OTHER}/steal`)
      await api.get('http://api.example.test/plain')
      await api.get('https://api.example.test:8443/port')
      expect(s.auth).toEqual([undefined, undefined, undefined])
      expect(provider.calls.getToken).toBe(0)
    })

    it('should send a token to an absolute URL on the allowed origin', async () => {
      attachToken(api, provider)
      const s = seen()
      nock(API).get('/abs').reply(s.reply(200))
      await api.get(`${API}/abs`)
      expect(s.auth).toEqual([`Bearer ${provider.issued[0]}`])
    })

    it('should keep the token on a same-origin redirect and drop it on a redirect to a subdomain', async () => {
      attachToken(api, provider)
      const s = seen()
      nock(API).get('/a').reply(302, '', { Location: '/b' }).get('/b').reply(s.reply(200))
      nock(API).get('/c').reply(302, '', { Location: 'https://evil.api.example.test/steal' })
      nock('https://evil.api.example.test').get('/steal').reply(s.reply(200))
      await api.get('/a')
      await api.get('/c')
      expect(s.auth).toEqual([`Bearer ${provider.issued[0]}`, undefined])
    })

    it("should strip the token in axios's beforeRedirect hook for origins not allowed, then call the caller's hook", async () => {
      attachToken(api, provider, { origins: [API, OTHER] })
      const calls: string[] = []
      let hook: ((options: Record<string, unknown>, response: unknown) => void) | undefined
      const adapter: AxiosAdapter = async (config) => {
        hook = config.beforeRedirect as typeof hook
        return { data: '', status: 200, statusText: 'OK', headers: {}, config }
      }
      await api.get('/x', { adapter, beforeRedirect: (o) => calls.push(String(o.href)) })
      const redirect = (href: string) => {
        const options = { href, headers: { Authorization: 'Bearer t', Accept: '*/*' } }
        hook!(options, { headers: {}, statusCode: 302 })
        return Object.keys(options.headers)
      }
      expect(redirect('https://sub.api.example.test/x')).toEqual(['Accept'])
      expect(redirect('http://api.example.test/x')).toEqual(['Accept'])
      expect(redirect(`${OTHER}/ok`)).toEqual(['Authorization', 'Accept'])
      expect(redirect(`${API}/ok`)).toEqual(['Authorization', 'Accept'])
      expect(calls).toHaveLength(4)
    })

    it('should send no token when a request overrides baseURL with another origin', async () => {
      expect(await authorizationOfOneGet(OTHER, '/x', { baseURL: OTHER })).toEqual([undefined])
    })

    it('should send a token to the origins given, and to no other, baseURL included', async () => {
      attachToken(api, provider, { origins: [OTHER, 'https://third.example.test/'] })
      const s = seen()
      nock(OTHER).get('/x').reply(s.reply(200))
      nock('https://third.example.test').get('/y').reply(s.reply(200))
      nock(API).get('/z').reply(s.reply(200))
      await api.get(`${OTHER}/x`)
      await api.get('https://third.example.test/y')
      await api.get('/z')
      const bearer = `Bearer ${provider.issued[0]}`
      expect(s.auth).toEqual([bearer, bearer, undefined])
    })

    it('should never override an Authorization header the caller set', async () => {
      api.defaults.headers.common.Authorization = 'Basic dXNlcjpwYXNz'
      const other = axios.create({ baseURL: API })
      attachToken(api, provider)
      attachToken(other, provider)
      const s = seen()
      nock(API).get('/x').times(2).reply(s.reply(200))
      await api.get('/x')
      await other.get('/x', { headers: { authorization: 'Bearer caller-own-token' } })
      expect(s.auth).toEqual(['Basic dXNlcjpwYXNz', 'Bearer caller-own-token'])
      expect(provider.calls.getToken).toBe(0)
    })

    it('should send no token with { tokenstash: false }', async () => {
      expect(await authorizationOfOneGet(API, '/health', { tokenstash: false })).toEqual([undefined])
      expect(provider.calls.getToken).toBe(0)
    })

    it("should pass the request's AbortSignal to the provider", async () => {
      attachToken(api, provider)
      const controller = new AbortController()
      nock(API).get('/x').reply(200)
      await api.get('/x', { signal: controller.signal })
      expect(provider.calls.signals).toEqual([controller.signal])
    })

    it("should reject with the provider's error and send nothing when no token can be had", async () => {
      attachToken(api, provider)
      const scope = nock(API).get('/x').reply(200)
      const denied = new TokenEndpointError('The token endpoint answered 401 invalid_client', {
        endpoint: 'https://idp.example.test/oauth2/token',
        status: 401,
        error: 'invalid_client',
        retryable: false,
      })
      provider.failNextFetch(denied)
      await expect(api.get('/x')).rejects.toBe(denied)
      expect(scope.isDone()).toBe(false)
      scope.persist(false)
      nock.cleanAll()
    })

    it('should work on the default axios instance and stop after eject', async () => {
      const eject = attachToken(axios, provider, { origins: [API] })
      try {
        const s = seen()
        nock(API).get('/d').times(2).reply(s.reply(200))
        await axios.get(`${API}/d`)
        eject()
        await axios.get(`${API}/d`)
        expect(s.auth).toEqual([`Bearer ${provider.issued[0]}`, undefined])
      } finally {
        eject()
      }
    })

    it('should remove every interceptor it installed on eject, axios-retry included', () => {
      const count = (i: AxiosInstance) => {
        // forEach is public in axios but missing from its type declarations.
        type Each = { forEach(fn: (handler: unknown) => void): void }
        let n = 0
        const add = () => {
          n++
        }
        ;(i.interceptors.request as unknown as Each).forEach(add)
        ;(i.interceptors.response as unknown as Each).forEach(add)
        return n
      }
      const eject = attachToken(api, provider)
      expect(count(api)).toBe(5)
      eject()
      expect(count(api)).toBe(0)
      attachToken(api, provider, { retry: false })()
      expect(count(api)).toBe(0)
    })
  })

  describe('options', () => {
    it('should require origins for an instance without baseURL', () => {
      expect(() => attachToken(axios.create(), provider)).toThrow(ConfigError)
      expect(() => attachToken(axios.create(), provider)).toThrow(/Expected `origins`/)
      expect(() => attachToken(axios.create({ baseURL: '/relative' }), provider)).toThrow(
        /Expected `origins`/,
      )
      expect(() => attachToken(axios.create(), provider, { origins: [API] })).not.toThrow()
    })

    it.each([
      [{ origins: [] }, 'Expected `origins` to be a non-empty array'],
      [{ origins: 'https://api.example.test' }, 'Expected `origins` to be a non-empty array'],
      [{ origins: ['https://api.example.test/v1'] }, 'Expected `origins[0]` to be an http(s) origin'],
      [{ origins: [API, 'ftp://files.example.test'] }, 'Expected `origins[1]` to be an http(s) origin'],
      [{ origins: ['not a url'] }, 'Expected `origins[0]` to be an http(s) origin'],
      [{ retryOn401: 'yes' }, 'Expected `retryOn401` to be a boolean or { methods: string[] }'],
      [{ retryOn401: { methods: [1] } }, 'Expected `retryOn401` to be a boolean or { methods: string[] }'],
      [{ retry: true }, 'Expected `retry` to be axios-retry options or false'],
      [{ origin: [API] }, 'Unknown option `origin` of attachToken; did you mean `origins`?'],
      [{ retryon401: true }, 'Unknown option `retryon401` of attachToken; did you mean `retryOn401`?'],
      [{ logger: 'debug' }, '`logger`'],
    ])('should reject %j with a ConfigError naming the option', (options, message) => {
      expect(() => attachToken(api, provider, options as never)).toThrow(ConfigError)
      expect(() => attachToken(api, provider, options as never)).toThrow(message)
    })

    it.each(['https://api.example.test:443', 'https://API.example.test'])(
      'should read the origin %s as the URL standard does',
      async (origin) => {
        const client = axios.create()
        attachToken(client, provider, { origins: [origin] })
        const s = seen()
        nock(API).get('/a').reply(s.reply(200))
        await client.get(`${API}/a`)
        expect(s.auth).toEqual([`Bearer ${provider.issued[0]}`])
      },
    )

    it('should say at debug level, once per origin, that a request outside `origins` got no token', async () => {
      const debug = jest.fn()
      attachToken(api, provider, { logger: { debug } })
      const s = seen()
      nock(OTHER).get('/a').times(2).reply(s.reply(200))
      nock(API).get('/b').reply(s.reply(200))
      await api.get(`${OTHER}/a`)
      await api.get(`${OTHER}/a`)
      await api.get('/b')
      expect(s.auth).toEqual([undefined, undefined, `Bearer ${provider.issued[0]}`])
      expect(debug.mock.calls).toEqual([
        [
          '@tokenstash/axios: no token sent to https://other.example.test: not in `origins` (https://api.example.test); add it there if it should get one (logged once per origin)',
        ],
      ])
    })

    it('should reject a request with a bad tokenstash option before sending it', async () => {
      attachToken(api, provider)
      await expect(api.get('/x', { tokenstash: 'off' as never })).rejects.toThrow(
        'Expected the request option `tokenstash` to be false or { retryOn401?: boolean }, got off',
      )
      await expect(api.get('/x', { tokenstash: { retryOn401: 'yes' as never } })).rejects.toBeInstanceOf(
        ConfigError,
      )
      expect(provider.calls.getToken).toBe(0)
    })

    it('should reject a missing provider or instance with a ConfigError', () => {
      expect(() => attachToken(api, {} as never)).toThrow('Expected `provider` to be a TokenProvider')
      expect(() => attachToken({} as never, provider)).toThrow('Expected `instance` to be an axios instance')
      expect(() => attachToken(api, provider, null as never)).toThrow(
        'Expected `options` to be an object, got null',
      )
    })
  })

  describe('401', () => {
    it('should invalidate the token sent, get the next one and replay once', async () => {
      attachToken(api, provider)
      const s = seen()
      nock(API).get('/x').reply(s.reply(401, INVALID)).get('/x').reply(s.reply(200))
      const res = await api.get('/x')
      expect(res.status).toBe(200)
      const [first, second] = provider.issued
      expect(s.auth).toEqual([`Bearer ${first}`, `Bearer ${second}`])
      expect(provider.calls.invalidate).toEqual([first])
    })

    it('should treat a 401 without a challenge as a rejected token', async () => {
      attachToken(api, provider)
      nock(API).get('/x').reply(401).get('/x').reply(200)
      expect((await api.get('/x')).status).toBe(200)
      expect(provider.stats().fetches).toBe(2)
    })

    it('should refetch once for a burst of concurrent 401s for one token', async () => {
      provider = fakeProvider({ delayMs: 5 })
      attachToken(api, provider)
      await provider.getToken()
      const [first] = provider.issued
      const s = seen()
      nock(API, { reqheaders: { authorization: `Bearer ${first}` } })
        .get('/burst')
        .times(8)
        .reply(s.reply(401, INVALID))
      nock(API).get('/burst').times(8).reply(s.reply(200))
      const results = await Promise.all(Array.from({ length: 8 }, () => api.get('/burst')))
      expect(results.map((r) => r.status)).toEqual(Array(8).fill(200))
      expect(provider.stats().fetches).toBe(2)
      expect(provider.calls.invalidate).toEqual([first])
      expect(s.auth.slice(8)).toEqual(Array(8).fill(`Bearer ${provider.issued[1]}`))
    })

    it('should not invalidate the replacement when a 401 for the old token arrives after the renewal', async () => {
      // The late 401 names the old token: the provider ignores it (no longer current) and serves the
      // replacement, which is not invalidated and not refetched.
      attachToken(api, provider)
      await provider.getToken()
      const [first] = provider.issued
      nock(API, { reqheaders: { authorization: `Bearer ${first}` } })
        .get('/fast')
        .reply(401, {}, INVALID)
        .get('/late')
        .delay(150)
        .reply(401, {}, INVALID)
      nock(API).get('/fast').reply(200).get('/late').reply(200)
      // Both go out with the first token; the late 401 lands after the first renewal finished.
      const late = api.get('/late')
      await api.get('/fast')
      expect((await late).status).toBe(200)
      expect(provider.calls.invalidate).toEqual([first, first])
      expect(provider.stats().fetches).toBe(2)
    })

    it('should reject a second 401 after the replay with that response, without a loop', async () => {
      attachToken(api, provider)
      const s = seen()
      nock(API).get('/x').times(2).reply(s.reply(401, INVALID))
      const error = await rejectionOf<AxiosError>(api.get('/x'))
      expect(error.response?.status).toBe(401)
      expect(error.response?.data).toEqual({ status: 401 })
      expect(s.auth).toHaveLength(2)
      expect(provider.stats().fetches).toBe(2)
      expect(provider.calls.invalidate).toEqual([provider.issued[0]])
      expectNoToken(error, provider)
    })

    it('should not replay a POST by default, but still drop the rejected token', async () => {
      attachToken(api, provider)
      const s = seen()
      nock(API).post('/orders').reply(s.reply(401, INVALID))
      const error = await rejectionOf<AxiosError>(api.post('/orders', { qty: 1 }))
      expect(error.response?.status).toBe(401)
      expect(s.auth).toHaveLength(1)
      expect(provider.calls.invalidate).toEqual([provider.issued[0]])
      expectNoToken(error, provider)
      nock(API).post('/orders').reply(s.reply(201))
      await api.post('/orders', { qty: 1 })
      expect(s.auth[1]).toBe(`Bearer ${provider.issued[1]}`)
    })

    it('should replay a POST with its body intact when the request opts in', async () => {
      attachToken(api, provider)
      const bodies: unknown[] = []
      nock(API)
        .post('/orders', (b) => bodies.push(b) > 0)
        .reply(401, {}, INVALID)
        .post('/orders', (b) => bodies.push(b) > 0)
        .reply(201, { id: 7 })
      const res = await api.post('/orders', { qty: 1 }, { tokenstash: { retryOn401: true } })
      expect(res.data).toEqual({ id: 7 })
      expect(bodies).toEqual([{ qty: 1 }, { qty: 1 }])
    })

    it('should replay the methods named in retryOn401.methods only', async () => {
      attachToken(api, provider, { retryOn401: { methods: ['POST'] } })
      nock(API).post('/p').reply(401).post('/p').reply(200).get('/g').reply(401)
      expect((await api.post('/p')).status).toBe(200)
      expect((await rejectionOf<AxiosError>(api.get('/g'))).response?.status).toBe(401)
    })

    it('should not replay with retryOn401: false, unless a request opts in', async () => {
      attachToken(api, provider, { retryOn401: false })
      nock(API).get('/x').reply(401).get('/y').reply(401).get('/y').reply(200)
      expect((await rejectionOf<AxiosError>(api.get('/x'))).response?.status).toBe(401)
      expect((await api.get('/y', { tokenstash: { retryOn401: true } })).status).toBe(200)
    })

    it('should not replay a GET that opts out', async () => {
      attachToken(api, provider)
      nock(API).get('/x').reply(401)
      expect(
        (await rejectionOf<AxiosError>(api.get('/x', { tokenstash: { retryOn401: false } }))).response
          ?.status,
      ).toBe(401)
    })

    it.each([
      'Bearer error="insufficient_scope", scope="orders:write"',
      'Bearer realm="api", error="invalid_request"',
      'Basic realm="legacy"',
    ])('should leave the token alone on a 401 with WWW-Authenticate: %s', async (challenge) => {
      attachToken(api, provider)
      nock(API).get('/x').reply(401, {}, { 'WWW-Authenticate': challenge })
      const error = await rejectionOf<AxiosError>(api.get('/x'))
      expect(error.response?.status).toBe(401)
      expect(provider.calls.invalidate).toEqual([])
      expect(provider.stats().fetches).toBe(1)
      expectNoToken(error, provider)
    })

    it("should leave the provider alone on a 401 to a request carrying the caller's own header", async () => {
      attachToken(api, provider)
      nock(API).get('/x').reply(401, {}, INVALID)
      await rejectionOf<AxiosError>(api.get('/x', { headers: { Authorization: 'Bearer caller-own-token' } }))
      expect(provider.calls.invalidate).toEqual([])
    })

    it('should reject with the 401 and the loop guard as cause when the provider refuses to refetch', async () => {
      provider.rejectReplacements()
      attachToken(api, provider)
      nock(API).get('/x').reply(401, {}, INVALID).get('/x').reply(200)
      await api.get('/x')
      nock(API).get('/y').reply(401, {}, INVALID)
      const error = await rejectionOf<AxiosError>(api.get('/y'))
      expect(error.response?.status).toBe(401)
      expect((error as { cause?: unknown }).cause).toBeInstanceOf(TokenRejectedError)
      expect(provider.stats().fetches).toBe(2)
      expectNoToken(error, provider)
    })

    it('should reject with the 401 and the fetch error as cause when the next token cannot be had', async () => {
      attachToken(api, provider)
      nock(API).get('/x').reply(401, {}, INVALID)
      await provider.getToken()
      provider.failNextFetch(
        new TokenEndpointError('The token endpoint is unavailable', {
          endpoint: 'https://idp.example.test',
          retryable: true,
          status: 503,
        }),
      )
      const error = await rejectionOf<AxiosError>(api.get('/x'))
      expect(error.response?.status).toBe(401)
      expect((error as { cause?: unknown }).cause).toBeInstanceOf(TokenEndpointError)
      expectNoToken(error, provider)
    })
  })

  describe('retry', () => {
    it('should retry a 503 with a current token and succeed', async () => {
      attachToken(api, provider, { retry: NO_DELAY })
      const s = seen()
      nock(API).get('/x').reply(s.reply(503)).get('/x').reply(s.reply(200))
      expect((await api.get('/x')).status).toBe(200)
      expect(s.auth).toEqual([`Bearer ${provider.issued[0]}`, `Bearer ${provider.issued[0]}`])
      expect(provider.calls.getToken).toBe(2)
    })

    it('should consult the delay with the Retry-After the server sent', async () => {
      const delays: number[] = []
      attachToken(api, provider, {
        retry: {
          retryDelay: (n, e) => {
            delays.push(retryDelay(n, e))
            return 0
          },
        },
      })
      nock(API)
        .get('/x')
        .reply(503, {}, { 'Retry-After': '7' })
        .get('/x')
        .reply(429, {}, { 'Retry-After': '2' })
        .get('/x')
        .reply(200)
      expect((await api.get('/x')).status).toBe(200)
      expect(delays).toHaveLength(2)
      expect(delays[0]).toBe(7_000)
      expect(delays[1]).toBe(2_000)
    })

    it('should give up at once when Retry-After asks for longer than maxRetryAfterMs', async () => {
      attachToken(api, provider)
      nock(API).get('/x').reply(503, {}, { 'Retry-After': '3600' })
      const error = await rejectionOf<AxiosError>(api.get('/x'))
      expect(error.response?.status).toBe(503)
      expectNoToken(error, provider)
    })

    it('should retry with the default backoff and reject with the last 5xx after the retries', async () => {
      attachToken(api, provider, { retry: { retries: 1 } })
      const s = seen()
      nock(API).get('/x').times(2).reply(s.reply(500))
      const error = await rejectionOf<AxiosError>(api.get('/x'))
      expect(error.response?.status).toBe(500)
      expect(s.auth).toHaveLength(2)
      expectNoToken(error, provider)
    })

    it('should retry network errors of idempotent methods', async () => {
      attachToken(api, provider, { retry: NO_DELAY })
      const { adapter, auth } = flakyAdapter(2)
      expect((await api.put('/x', { a: 1 }, { adapter })).status).toBe(204)
      expect(auth).toEqual(Array(3).fill(`Bearer ${provider.issued[0]}`))
    })

    it('should not retry a POST by default, and redact the error', async () => {
      attachToken(api, provider, { retry: NO_DELAY })
      nock(API).post('/x').reply(503)
      const { adapter, auth } = flakyAdapter(1)
      const first = await rejectionOf<AxiosError>(api.post('/x', {}))
      const second = await rejectionOf<AxiosError>(api.post('/x', {}, { adapter }))
      expect(auth).toHaveLength(1)
      expect(first.response?.status).toBe(503)
      expect(second.code).toBe('ECONNRESET')
      expectNoToken(first, provider)
      expectNoToken(second, provider)
    })

    it('should not retry at all with retry: false', async () => {
      attachToken(api, provider, { retry: false })
      nock(API).get('/x').reply(503)
      expect((await rejectionOf<AxiosError>(api.get('/x'))).response?.status).toBe(503)
    })

    it('should compose: 503, then 401, then success, each attempt with a valid token', async () => {
      attachToken(api, provider, { retry: NO_DELAY })
      const s = seen()
      nock(API)
        .get('/x')
        .reply(s.reply(503))
        .get('/x')
        .reply(s.reply(401, INVALID))
        .get('/x')
        .reply(s.reply(200))
      expect((await api.get('/x')).status).toBe(200)
      const [first, second] = provider.issued
      expect(s.auth).toEqual([`Bearer ${first}`, `Bearer ${first}`, `Bearer ${second}`])
    })

    it('should compose: 401, then 503 on the replay, retried with the new token', async () => {
      attachToken(api, provider, { retry: NO_DELAY })
      const s = seen()
      nock(API)
        .get('/x')
        .reply(s.reply(401, INVALID))
        .get('/x')
        .reply(s.reply(503))
        .get('/x')
        .reply(s.reply(200))
      expect((await api.get('/x')).status).toBe(200)
      const [first, second] = provider.issued
      expect(s.auth).toEqual([`Bearer ${first}`, `Bearer ${second}`, `Bearer ${second}`])
    })
  })

  describe('redaction', () => {
    it('should redact timeouts and cancels too', async () => {
      attachToken(api, provider, { retry: NO_DELAY })
      nock(API).get('/slow').delay(500).reply(200)
      const timeout = await rejectionOf<AxiosError>(api.get('/slow', { timeout: 20 }))
      expect(timeout.code).toBe('ECONNABORTED')
      expectNoToken(timeout, provider)
      nock.abortPendingRequests()
      nock.cleanAll()
      const controller = new AbortController()
      nock(API).get('/cancel').delay(500).reply(200)
      const pending = api.get('/cancel', { signal: controller.signal })
      setImmediate(() => controller.abort())
      const canceled = await rejectionOf<AxiosError>(pending)
      expect(canceled.code).toBe('ERR_CANCELED')
      expectNoToken(canceled, provider)
      nock.abortPendingRequests()
      nock.cleanAll()
    })

    it('should keep the token in the config of successful responses', async () => {
      attachToken(api, provider)
      nock(API).get('/x').reply(200)
      const res = await api.get('/x')
      expect(res.config.headers.Authorization).toBe(`Bearer ${provider.issued[0]}`)
    })
  })
})
