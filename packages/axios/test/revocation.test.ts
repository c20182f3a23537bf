import { attachToken } from '@tokenstash/axios'
import { createTokenProvider, memoryStore, type TokenSet, type TokenStore } from '@tokenstash/core'
import axios from 'axios'
import nock from 'nock'

const API = 'https://revoked.example.test'
const INVALID = { 'WWW-Authenticate': 'Bearer error="invalid_token", error_description="revoked"' }

/** A store that answers every call after `ms` of real time, like a nearby Redis or DynamoDB. */
function slow(inner: TokenStore, ms: number): TokenStore {
  const later =
    <A extends unknown[], R>(fn: (...a: A) => Promise<R>) =>
    async (...a: A): Promise<R> => {
      await new Promise((r) => setTimeout(r, ms))
      return fn(...a)
    }
  return {
    get: later(inner.get),
    set: later(inner.set),
    delete: later(inner.delete),
    acquireLease: later(inner.acquireLease),
    releaseLease: later(inner.releaseLease),
  }
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms))

beforeAll(() => nock.disableNetConnect())
afterEach(() => nock.cleanAll())
afterAll(() => nock.enableNetConnect())

describe('attachToken with the real provider', () => {
  it('should recover every request after a revocation with one refetch, through a store with 3 ms latency', async () => {
    let minted = 0
    const source = {
      id: 'revocation',
      async fetchToken(): Promise<TokenSet> {
        minted++
        const issuedAt = Date.now()
        return {
          accessToken: `token-${minted}-${'x'.repeat(24)}`,
          tokenType: 'Bearer',
          issuedAt,
          expiresAt: issuedAt + 3_600_000,
        }
      },
    }
    const provider = createTokenProvider({
      source,
      store: slow(memoryStore(), 3),
      encryption: false,
      backgroundRefresh: false,
    })
    const api = axios.create({ baseURL: API })
    attachToken(api, provider, { retry: false })
    const revoked = await provider.getToken()
    nock(API)
      .get('/orders')
      .times(16)
      .reply(function () {
        return this.req.headers.authorization === `Bearer ${revoked}`
          ? [401, {}, INVALID]
          : [200, { ok: true }]
      })
    const requests: Array<Promise<number>> = []
    for (let i = 0; i < 8; i++) {
      requests.push(api.get('/orders').then((r) => r.status))
      await pause(4)
    }
    expect(await Promise.all(requests)).toEqual(Array(8).fill(200))
    expect(minted).toBe(2)
  })
})
