import {
  clientCredentials,
  createTokenProvider,
  DEFAULTS,
  memoryStore,
  TokenEndpointError,
  type TokenEvent,
  type TokenSet,
  type TokenSource,
  type TokenStore,
} from '@tokenstash/core'
import { fakeClock, fakeSource, flush, key32, pause } from './helpers'

// Issue 16: leases and failure markers owned by one holder and attempt, store calls that land
// after their timeout, callers with deadlines, invalidate racing store answers, skewed clocks and
// transports that throw anything. Each test here failed on the provider before issue 16.

const HOUR = 3_600_000
const leaseKey = (key: string) => `${key}#lease`
const failureKey = (key: string) => `${key}#failure`

/** A throwing getter on `message` and on `cause`: reading the error is itself an error. */
function hostileError(): Error {
  const err = new Error('x')
  Object.defineProperty(err, 'message', {
    get() {
      throw new Error('message getter')
    },
  })
  Object.defineProperty(err, 'cause', {
    get() {
      throw new Error('cause getter')
    },
  })
  return err
}

function revokedProxy(): object {
  const { proxy, revoke } = Proxy.revocable(new Error('gone'), {})
  revoke()
  return proxy
}

describe('createTokenProvider (issue 16)', () => {
  describe('transport errors', () => {
    it.each([
      ['an error with throwing message and cause getters', hostileError],
      ['a revoked Proxy', revokedProxy],
    ])('should turn %s thrown by fetch into a retryable TokenEndpointError', async (_name, make) => {
      let calls = 0
      const source = clientCredentials({
        tokenEndpoint: 'https://idp.example.com/oauth2/token',
        clientId: 'c',
        clientSecret: 's',
        fetch: (async () => {
          calls++
          throw make()
        }) as unknown as typeof fetch,
      })
      const err = await source.fetchToken().catch((e: unknown) => e)
      expect(err).toBeInstanceOf(TokenEndpointError)
      expect((err as TokenEndpointError).retryable).toBe(true)
      const p = createTokenProvider({
        source,
        retry: { retries: 2, minTimeoutMs: 1, maxTimeoutMs: 1 },
      })
      await expect(p.getToken()).rejects.toBeInstanceOf(TokenEndpointError)
      // Retried like any network error: 1 + 2 retries.
      expect(calls).toBe(1 + 3)
    })

    it('should pass a revoked Proxy thrown by a custom source through untouched, not as a TypeError of its own', async () => {
      let calls = 0
      const thrown = revokedProxy()
      const source: TokenSource = {
        id: 'custom',
        async fetchToken() {
          calls++
          throw thrown
        },
      }
      const seen: TokenEvent[] = []
      const p = createTokenProvider({
        source,
        retry: { retries: 2, minTimeoutMs: 1, maxTimeoutMs: 1 },
        onEvent: (e) => seen.push(e),
      })
      let err: unknown
      // Not `.catch((e) => e)`: resolving a promise with a revoked Proxy reads its `then` and throws.
      await p.getToken().then(undefined, (e: unknown) => {
        err = e
      })
      // A foreign error of a custom source is not retried (it may be a bug), but classifying it
      // must not throw a TypeError of its own.
      expect(Object.is(err, thrown)).toBe(true)
      expect(calls).toBe(1)
      expect(seen.map((e) => e.type)).toContain('error')
    })
  })
})
