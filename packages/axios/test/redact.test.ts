import { inspect } from 'node:util'
import { REDACTED, redactError } from '@tokenstash/axios'

const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.secret-payload.sig'

describe('redactError', () => {
  it('should redact every Authorization copy node:http and follow-redirects keep', () => {
    const kOutHeaders = Symbol('kOutHeaders')
    const request: Record<PropertyKey, unknown> = {
      _header: `GET /x HTTP/1.1\r\nAccept: */*\r\nAuthorization: Bearer ${TOKEN}\r\nHost: api\r\n\r\n`,
      [kOutHeaders]: { authorization: ['Authorization', `Bearer ${TOKEN}`], host: ['Host', 'api'] },
      _redirectable: { _options: { headers: { authorization: `Bearer ${TOKEN}` }, path: '/x' } },
    }
    request.res = { req: request }
    const error = {
      isAxiosError: true,
      config: { headers: { Authorization: `Bearer ${TOKEN}` } },
      request,
      response: { request },
    }
    redactError(error, [TOKEN])
    expect(inspect(error, { depth: Number.POSITIVE_INFINITY, showHidden: true })).not.toContain(TOKEN)
    expect(request._header).toBe(
      `GET /x HTTP/1.1\r\nAccept: */*\r\nAuthorization: ${REDACTED}\r\nHost: api\r\n\r\n`,
    )
    expect((request[kOutHeaders] as Record<string, unknown>).host).toEqual(['Host', 'api'])
  })

  it('should redact a caller-set Authorization even without knowing the secret', () => {
    const error = {
      config: { headers: { authorization: 'Basic dXNlcjpwYXNz', 'Proxy-Authorization': 'Basic eA==' } },
    }
    redactError(error)
    expect(error.config.headers).toEqual({ authorization: REDACTED, 'Proxy-Authorization': REDACTED })
  })

  it('should redact Fetch API Headers', () => {
    const headers = new Headers({ authorization: `Bearer ${TOKEN}`, accept: '*/*' })
    redactError({ request: { headers } })
    expect(headers.get('authorization')).toBe(REDACTED)
    expect(headers.get('accept')).toBe('*/*')
  })

  it('should redact the Headers of a Fetch API Request, which undici on Node 24 keeps in private fields', () => {
    const request = new Request('https://api.example.test/orders', {
      headers: { Authorization: `Bearer ${TOKEN}` },
    })
    const error = { request: { socket: { request } } }
    redactError(error, [TOKEN])
    expect(request.headers.get('authorization')).toBe(REDACTED)
    expect(inspect(error, { depth: Number.POSITIVE_INFINITY })).not.toContain(TOKEN)
  })

  it('should leave a socket that already carries another request alone', () => {
    const other = { _header: `Authorization: Bearer ${TOKEN}\r\n` }
    const request = { socket: { _httpMessage: other } }
    redactError({ request }, [TOKEN])
    expect(other._header).toContain(TOKEN)
  })

  it('should clean an object reached first at the depth limit and again by a shorter path', () => {
    const token = 'eyJhbGciOiJSUzI1NiJ9.deep-token.sig'
    // The request is first met eight levels down, the last level the walk descends from, so its
    // nested header copies lie past the limit; then it is met again right under the error.
    const request = {
      _header: `GET / HTTP/1.1\r\nAuthorization: Bearer ${token}\r\n\r\n`,
      headers: { inner: { authorization: `Bearer ${token}` } },
    }
    let chain: Record<string, unknown> = { request }
    for (let i = 0; i < 6; i++) chain = { next: chain }
    const error = { aaa: chain, zzz: request }
    redactError(error, [token])
    expect(inspect(error, { depth: Number.POSITIVE_INFINITY, showHidden: true })).not.toContain(token)
  })

  it('should follow a long chain of wrapped sockets (nock 14 wraps a reused socket in another)', () => {
    // Seen in CI: error.request.socket.originalSocket ×6 .request[Symbol(headers)][Symbol(kRawHeaders)]
    // held the token, past the depth limit; each keep-alive reuse under nock adds a link.
    const kHeaders = Symbol('headers')
    const kRawHeaders = Symbol('kRawHeaders')
    const innermost = {
      request: {
        [kHeaders]: {
          [kRawHeaders]: [
            ['Authorization', `Bearer ${TOKEN}`],
            ['Host', 'api'],
          ],
        },
      },
    }
    let socket: Record<string, unknown> = innermost
    for (let i = 0; i < 40; i++) socket = { originalSocket: socket }
    const request: Record<string, unknown> = { socket }
    socket._httpMessage = request
    const error = { isAxiosError: true, request }
    redactError(error, [TOKEN])
    expect(inspect(error, { depth: Number.POSITIVE_INFINITY, showHidden: true })).not.toContain(TOKEN)
  })

  it('should not follow a wrapped socket that carries another request', () => {
    const other = { _header: `Authorization: Bearer ${TOKEN}\r\n` }
    const request: Record<string, unknown> = {}
    request.socket = { _httpMessage: request, originalSocket: { _httpMessage: other, _header: 'x' } }
    redactError({ request }, [TOKEN])
    expect(other._header).toContain(TOKEN)
  })

  it('should survive cycles, frozen objects and getters without calling them', () => {
    const frozen = Object.freeze({ note: `Bearer ${TOKEN}` })
    const cyclic: Record<string, unknown> = { frozen }
    cyclic.self = cyclic
    let called = false
    Object.defineProperty(cyclic, 'lazy', {
      enumerable: true,
      get: () => {
        called = true
        return TOKEN
      },
    })
    expect(() => redactError({ cyclic }, [TOKEN])).not.toThrow()
    expect(called).toBe(false)
    expect(() => redactError(null)).not.toThrow()
  })

  it("should replace a live request by a summary, so its keep-alive socket cannot lead to the next request's token", () => {
    const next = 'eyJhbGciOiJSUzI1NiJ9.next-request-token.sig'
    const currentReq = Symbol('axios.http.currentReq')
    // The socket already carries the next request: the walk must leave it alone, and it must not
    // stay reachable from the error either.
    const following = { _options: { headers: { authorization: `Bearer ${next}` } } }
    const request: Record<PropertyKey, unknown> = {
      method: 'GET',
      protocol: 'http:',
      host: 'api',
      path: '/orders/1?key=abc',
      _header: `GET /orders/1 HTTP/1.1\r\nAuthorization: Bearer ${TOKEN}\r\n\r\n`,
      socket: { _httpMessage: following, [currentReq]: following },
    }
    const error = {
      isAxiosError: true,
      config: {
        method: 'get',
        baseURL: 'http://api:8080',
        url: '/orders/1?key=abc',
        headers: { Authorization: `Bearer ${TOKEN}` },
      },
      request,
      response: { status: 500, request, config: {} },
    }
    redactError(error, [TOKEN])
    expect(error.request).toEqual({ method: 'GET', origin: 'http://api:8080', path: '/orders/1' })
    expect(error.response.request).toBe(error.request)
    const text = inspect(error, { depth: 12, showHidden: true })
    expect(text).not.toContain(TOKEN)
    expect(text).not.toContain(next)
    expect(JSON.stringify(error)).not.toContain(next)
    // Cleaned twice (by two interceptors), it stays the same summary.
    redactError(error, [TOKEN])
    expect(error.request).toEqual({ method: 'GET', origin: 'http://api:8080', path: '/orders/1' })
  })
})
