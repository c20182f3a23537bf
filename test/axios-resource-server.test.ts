import { issuerSource } from './support/fleet'
import { startResourceServerFor } from './support/resource-server'
import { useServers } from './support/servers'

// The protected API the axios tests rely on must itself be strict, or their passing proves nothing.

describe('startResourceServer', () => {
  let clock = Date.now()
  const servers = useServers({ issuer: { accessTokenTtlSeconds: 60 }, api: { now: () => clock } })
  let token: string

  beforeAll(async () => {
    token = (await issuerSource(servers.issuer).fetchToken()).accessToken
  })

  beforeEach(() => {
    clock = Date.now()
    servers.api.reset()
  })

  const call = (authorization?: string) =>
    fetch(`${servers.api.url}/orders/1`, { headers: authorization ? { authorization } : {} })

  it('should serve a valid token and say whose it is', async () => {
    const { issuer, api } = servers
    const res = await call(`Bearer ${token}`)
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ ok: true, sub: issuer.clients.basic.clientId })
    expect(api.log()).toEqual([
      { method: 'GET', path: '/orders/1', status: 200, verdict: 'valid', sub: issuer.clients.basic.clientId },
    ])
  })

  it('should answer a missing token with a bare Bearer challenge', async () => {
    const res = await call()
    expect(res.status).toBe(401)
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="tokenstash-test-api"')
  })

  it('should answer a tampered, an expired and a revoked token with invalid_token', async () => {
    const [h, p, s] = token.split('.')
    const tampered = await call(`Bearer ${h}.${p}x.${s}`)
    expect(tampered.status).toBe(401)
    expect(tampered.headers.get('www-authenticate')).toContain('error="invalid_token"')
    clock = Date.now() + 120_000
    const expired = await call(`Bearer ${token}`)
    expect(expired.headers.get('www-authenticate')).toContain('error_description="The access token expired"')
    clock = Date.now()
    servers.api.reject(token)
    const revoked = await call(`Bearer ${token}`)
    expect(revoked.headers.get('www-authenticate')).toContain('error="invalid_token"')
    expect(servers.api.log().map((r) => r.verdict)).toEqual(['invalid', 'expired', 'revoked'])
  })

  it('should answer injected failures with their status and Retry-After, then serve again', async () => {
    const other = await startResourceServerFor(servers.issuer)
    try {
      other.failNext(1, { status: 503, retryAfterSeconds: 2 })
      const busy = await fetch(`${other.url}/x`, { headers: { authorization: `Bearer ${token}` } })
      expect(busy.status).toBe(503)
      expect(busy.headers.get('retry-after')).toBe('2')
      expect((await fetch(`${other.url}/x`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(
        200,
      )
      expect(other.requests()).toBe(2)
      expect(() => other.failNext(0, { status: 503 })).toThrow(RangeError)
    } finally {
      await other.stop()
    }
  })
})
