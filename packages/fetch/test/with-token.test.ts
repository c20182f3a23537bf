import { ConfigError } from '@tokenstash/core'
import { type BearerTokenProvider, DEFAULTS, redactError, withToken } from '@tokenstash/fetch'
import nock from 'nock'

const API = 'https://api.example.com'

beforeAll(() => nock.disableNetConnect())
afterAll(() => nock.enableNetConnect())

interface Sent {
  url: string
  method: string
  authorization: string | null
  body: string | null
  redirect: string | undefined
}

/** A fetch that answers from a list of responses in order and records what it was sent. */
function fakeFetch(...responses: Array<() => Response>) {
  const sent: Sent[] = []
  const f = (async (input: Parameters<typeof fetch>[0], init?: RequestInit) => {
    const req = new Request(input, init)
    sent.push({
      url: req.url,
      method: req.method,
      authorization: req.headers.get('authorization'),
      body: req.body ? await req.text() : null,
      redirect: init?.redirect,
    })
    const next = responses.shift()
    if (!next) throw new Error('no more responses')
    return next()
  }) as typeof fetch
  return { f, sent }
}

/** A provider handing out token-1, token-2, ... : each invalidate makes the next getToken a new token. */
function fakeProvider(): BearerTokenProvider & { invalidated: string[] } {
  let n = 1
  const invalidated: string[] = []
  return {
    invalidated,
    getToken: async () => `token-${n}`,
    invalidate: async (t?: string) => {
      invalidated.push(t ?? '')
      if (t === `token-${n}`) n++
    },
  }
}

const ok = () => new Response('{"ok":true}', { status: 200 })
const rejected = (challenge?: string) => () =>
  new Response('{}', { status: 401, headers: challenge ? { 'www-authenticate': challenge } : {} })
const redirect = (status: number, location: string) => () =>
  new Response(null, { status, headers: { location } })

describe('withToken', () => {
  describe('options', () => {
    it.each([
      [undefined, /`options`/],
      [
        {},
        /`origins` to be a non-empty array of origins like "https:\/\/api.example.com" \(a fetch has no base URL to default to\), got undefined/,
      ],
      [{ origins: [] }, /`origins` to be a non-empty array/],
      [{ origins: ['api.example.com'] }, /`origins\[0\]` to be an http\(s\) origin/],
      [{ origins: ['https://api.example.com/v1'] }, /`origins\[0\]`/],
      [{ origins: ['ftp://api.example.com'] }, /`origins\[0\]`/],
      [{ origins: [API], retryOn401: { methods: 'GET' } }, /`retryOn401`/],
      [{ origins: ['https://user@api.example.com'] }, /`origins\[0\]`/],
      [{ origins: ['https://api.example.com?'] }, /`origins\[0\]`/],
      [{ origin: [API] }, /Unknown option `origin` of withToken; did you mean `origins`\?/],
      [{ origins: [API], retryon401: false }, /Unknown option `retryon401`.*`retryOn401`/],
      [{ origins: [API], logger: 'debug' }, /`logger`/],
    ])('should refuse %j with a ConfigError', (options, message) => {
      expect(() => withToken(fetch, fakeProvider(), options as never)).toThrow(ConfigError)
      expect(() => withToken(fetch, fakeProvider(), options as never)).toThrow(message)
    })

    it('should refuse a missing fetch or provider', () => {
      expect(() => withToken(undefined as never, fakeProvider(), { origins: [API] })).toThrow(/`fetch`/)
      expect(() => withToken(fetch, {} as never, { origins: [API] })).toThrow(/`provider`/)
    })
  })

  it('should attach the token to allowed origins only, and never over the caller’s Authorization', async () => {
    const { f, sent } = fakeFetch(ok, ok, ok)
    const apiFetch = withToken(f, fakeProvider(), { origins: [`${API}/`] })
    await apiFetch(`${API}/a`)
    await apiFetch('https://other.example.com/b')
    await apiFetch(`${API}/c`, { headers: { Authorization: 'Basic abc' } })
    expect(sent.map((s) => s.authorization)).toEqual(['Bearer token-1', null, 'Basic abc'])
  })

  it.each(['https://api.example.com:443', 'https://API.example.com', 'HTTPS://api.EXAMPLE.com:443/'])(
    'should read the origin %s as the URL standard does, the same as https://api.example.com',
    async (origin) => {
      const { f, sent } = fakeFetch(ok)
      await withToken(f, fakeProvider(), { origins: [origin] })(`${API}/a`)
      expect(sent.map((s) => s.authorization)).toEqual(['Bearer token-1'])
    },
  )

  it('should say at debug level, once per origin, that a request outside `origins` got no token', async () => {
    const { f, sent } = fakeFetch(ok, ok, ok, ok, ok)
    const lines: string[] = []
    const logger = {
      lines,
      // Called as a method, as pino and Powertools' Logger need.
      debug(this: { lines: string[] }, message: string) {
        this.lines.push(message)
      },
    }
    const apiFetch = withToken(f, fakeProvider(), { origins: [API], logger })
    await apiFetch('https://other.example.com/a')
    await apiFetch('https://other.example.com/b?x=1')
    await apiFetch(`${API}/c`)
    await apiFetch(`${API}/d`, { headers: { authorization: 'Basic abc' } })
    await apiFetch('http://third.example.com:8080/e')
    expect(sent).toHaveLength(5)
    expect(lines).toEqual([
      '@tokenstash/fetch: no token sent to https://other.example.com: not in `origins` (https://api.example.com); add it there if it should get one (logged once per origin)',
      '@tokenstash/fetch: no token sent to http://third.example.com:8080: not in `origins` (https://api.example.com); add it there if it should get one (logged once per origin)',
    ])
  })

  it('should write nothing to the console by default, and nothing at all with logger: false', async () => {
    const spies = (['log', 'debug', 'info', 'warn', 'error'] as const).map((m) =>
      jest.spyOn(console, m).mockImplementation(() => {}),
    )
    try {
      const { f } = fakeFetch(ok, ok)
      await withToken(f, fakeProvider(), { origins: [API] })('https://other.example.com/a')
      await withToken(f, fakeProvider(), { origins: [API], logger: false })('https://other.example.com/a')
      for (const spy of spies) expect(spy).not.toHaveBeenCalled()
    } finally {
      for (const spy of spies) spy.mockRestore()
    }
  })

  it('should pass a Request to another origin through untouched, body unread', async () => {
    const { f, sent } = fakeFetch(ok)
    const req = new Request('https://other.example.com/upload', { method: 'POST', body: 'payload' })
    await withToken(f, fakeProvider(), { origins: [API] })(req)
    expect(sent.map((s) => [s.method, s.authorization, s.body])).toEqual([['POST', null, 'payload']])
  })

  it('should keep the method, headers and body of a Request input', async () => {
    const { f, sent } = fakeFetch(rejected(), ok)
    const apiFetch = withToken(f, fakeProvider(), { origins: [API] })
    const req = new Request(`${API}/put`, { method: 'PUT', body: 'payload', headers: { 'x-a': '1' } })
    expect((await apiFetch(req)).status).toBe(200)
    expect(sent.map((s) => [s.method, s.authorization, s.body])).toEqual([
      ['PUT', 'Bearer token-1', 'payload'],
      ['PUT', 'Bearer token-2', 'payload'],
    ])
  })

  describe('401', () => {
    it('should invalidate the sent token and replay once, then return a second 401 as it is', async () => {
      const { f, sent } = fakeFetch(rejected('Bearer error="invalid_token"'), rejected())
      const provider = fakeProvider()
      const res = await withToken(f, provider, { origins: [API] })(`${API}/x`)
      expect(res.status).toBe(401)
      expect(sent.map((s) => s.authorization)).toEqual(['Bearer token-1', 'Bearer token-2'])
      expect(provider.invalidated).toEqual(['token-1'])
    })

    it.each(['Bearer error="insufficient_scope"', 'Basic realm="x"'])(
      'should leave the token alone on a 401 with %s',
      async (challenge) => {
        const { f, sent } = fakeFetch(rejected(challenge))
        const provider = fakeProvider()
        expect((await withToken(f, provider, { origins: [API] })(`${API}/x`)).status).toBe(401)
        expect(sent).toHaveLength(1)
        expect(provider.invalidated).toEqual([])
      },
    )

    it('should invalidate but not replay a POST by default, nor anything with retryOn401: false', async () => {
      for (const [options, method] of [
        [{}, 'POST'],
        [{ retryOn401: false }, 'GET'],
      ] as const) {
        const { f, sent } = fakeFetch(rejected())
        const provider = fakeProvider()
        const res = await withToken(f, provider, { origins: [API], ...options })(`${API}/x`, {
          method,
          body: method === 'POST' ? 'b' : undefined,
        })
        expect(res.status).toBe(401)
        expect(sent).toHaveLength(1)
        expect(provider.invalidated).toEqual(['token-1'])
      }
    })

    it('should return the 401 when the provider refuses another token', async () => {
      const { f, sent } = fakeFetch(rejected())
      const provider: BearerTokenProvider = {
        getToken: async () => 'token-1',
        invalidate: async () => {
          throw new Error('rejected again')
        },
      }
      expect((await withToken(f, provider, { origins: [API] })(`${API}/x`)).status).toBe(401)
      expect(sent).toHaveLength(1)
    })
  })

  describe('redirects', () => {
    it('should follow them itself, stripping the token for other origins', async () => {
      const { f, sent } = fakeFetch(redirect(302, 'https://cdn.example.com/file'), ok)
      await withToken(f, fakeProvider(), { origins: [API] })(`${API}/download`)
      expect(sent).toEqual([
        {
          url: `${API}/download`,
          method: 'GET',
          authorization: 'Bearer token-1',
          body: null,
          redirect: 'manual',
        },
        {
          url: 'https://cdn.example.com/file',
          method: 'GET',
          authorization: null,
          body: null,
          redirect: 'manual',
        },
      ])
    })

    it('should turn a POST into a GET on 303 and keep a PUT with its body on 307', async () => {
      const { f, sent } = fakeFetch(redirect(303, '/done'), ok, redirect(307, '/v2/x'), ok)
      const apiFetch = withToken(f, fakeProvider(), { origins: [API] })
      await apiFetch(`${API}/create`, {
        method: 'POST',
        body: 'a',
        headers: { 'content-type': 'text/plain' },
      })
      await apiFetch(`${API}/x`, { method: 'PUT', body: 'b' })
      expect(sent.map((s) => [s.method, s.url, s.body, s.authorization])).toEqual([
        ['POST', `${API}/create`, 'a', 'Bearer token-1'],
        ['GET', `${API}/done`, null, 'Bearer token-1'],
        ['PUT', `${API}/x`, 'b', 'Bearer token-1'],
        ['PUT', `${API}/v2/x`, 'b', 'Bearer token-1'],
      ])
    })

    it(`should fail after ${DEFAULTS.maxRedirects} redirects, like fetch`, async () => {
      const loop = Array.from({ length: DEFAULTS.maxRedirects + 1 }, () => redirect(302, `${API}/again`))
      const { f } = fakeFetch(...loop)
      await expect(withToken(f, fakeProvider(), { origins: [API] })(`${API}/again`)).rejects.toThrow(
        'fetch failed',
      )
    })

    it('should leave a redirect alone when the caller asked for redirect: manual', async () => {
      const { f, sent } = fakeFetch(redirect(302, 'https://cdn.example.com/file'))
      const res = await withToken(f, fakeProvider(), { origins: [API] })(`${API}/d`, { redirect: 'manual' })
      expect(res.status).toBe(302)
      expect(sent).toHaveLength(1)
    })
  })
})

describe('redactError', () => {
  it('should remove tokens from the message, the cause chain and Headers', () => {
    const headers = new Headers({ authorization: 'Bearer secret-token-1' })
    const error = new Error('failed with secret-token-1', {
      cause: { nested: ['x secret-token-1 y'], headers },
    })
    redactError(error, ['secret-token-1'])
    expect(error.message).toBe('failed with [REDACTED]')
    expect(JSON.stringify((error as { cause?: unknown }).cause)).not.toContain('secret-token-1')
    expect(headers.get('authorization')).toBe('[REDACTED]')
  })

  it('should remove tokens from the Headers of a Request the error holds', () => {
    const request = new Request('https://api.example.com/x', {
      headers: { authorization: 'Bearer secret-token-1' },
    })
    redactError(new Error('failed', { cause: { request } }), ['secret-token-1'])
    expect(request.headers.get('authorization')).toBe('[REDACTED]')
  })
})
