import { attachToken } from '@tokenstash/axios'
import { clientCredentials, createTokenProvider, type TokenProvider } from '@tokenstash/core'
import { withToken } from '@tokenstash/fetch'
import axios from 'axios'
import { useServers } from './support/servers'

// An open redirect on an allowed API must not steer an authenticated request: A (allowed) answers
// 307 to C (not allowed), C answers 307 back to an allowed origin's /admin. Once the chain has left
// the allowed origins, no hop gets a token, in the fetch wrapper and in axios (follow-redirects).
// Real loopback servers: each origin is its own port on 127.0.0.1.

describe('a redirect chain through a non-allowed origin', () => {
  const servers = useServers({
    issuer: { accessTokenTtlSeconds: 300 },
    api: true,
    sinks: ['entry', 'outside'],
    resetEach: true,
  })
  let provider: TokenProvider

  beforeEach(() => {
    const { issuer, api, sinks } = servers
    sinks.entry.redirectTo(sinks.outside.url, 307)
    sinks.outside.redirectTo(api.url, 307)
    const { clientId, clientSecret } = issuer.clients.basic
    provider = createTokenProvider({
      source: clientCredentials({ tokenEndpoint: issuer.tokenEndpoint, clientId, clientSecret }),
    })
  })

  function expectNoTokenAfterLeaving(): void {
    const { api, sinks } = servers
    expect(sinks.entry.headers.map((h) => h.authorization)).toEqual([expect.stringMatching(/^Bearer /)])
    expect(sinks.outside.headers.map((h) => h.authorization)).toEqual([undefined])
    // The API saw the steered request (method and body kept by the 307s) without a token.
    expect(api.log().map(({ method, path, verdict }) => ({ method, path, verdict }))).toEqual([
      { method: 'POST', path: '/admin/delete-all', verdict: 'missing' },
    ])
  }

  it('should give no token to the last hop in the fetch wrapper', async () => {
    const { api, sinks } = servers
    const f = withToken(fetch, provider, { origins: [api.url, sinks.entry.url] })
    const res = await f(`${sinks.entry.url}/admin/delete-all`, { method: 'POST', body: 'auth=yes' })
    expect(res.status).toBe(401)
    expectNoTokenAfterLeaving()
  })

  it('should give no token to the last hop in axios', async () => {
    const { api, sinks } = servers
    const client = axios.create({ baseURL: sinks.entry.url })
    attachToken(client, provider, { origins: [api.url, sinks.entry.url], retry: false })
    const res = await client.post('/admin/delete-all', 'auth=yes', { validateStatus: () => true })
    expect(res.status).toBe(401)
    expectNoTokenAfterLeaving()
  })
})
