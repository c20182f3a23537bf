import { inspect } from 'node:util'
import {
  ConfigError,
  createTokenProvider,
  memoryStore,
  RateLimitedError,
  type SourceEvent,
  TokenEndpointError,
  TokenRejectedError,
  TokenResponseError,
} from '@tokenstash/core'
import { thrownBy } from '../../../test/support/thrown'
import { clockedProvider, endpointError, events, fakeClock, fakeSource, flush, HOUR, key32 } from './helpers'
import { breakableStore, leaseKey, recordingStore, sharedStore } from './stores'

describe('createTokenProvider', () => {
  describe('memory tier', () => {
    it('should fetch once and then serve from memory without I/O', async () => {
      const { source, p } = clockedProvider({ jitter: 0 })
      expect(await p.getToken()).toBe('tok-1-fake')
      for (let i = 0; i < 100; i++) expect(await p.getToken()).toBe('tok-1-fake')
      expect(source.calls).toBe(1)
      expect(p.stats()).toMatchObject({ l1Hits: 100, fetches: 1, fetchErrors: 0 })
    })

    it('should cause exactly one token request for 1,000 concurrent calls on a cold provider', async () => {
      const { source, p } = clockedProvider({}, { delayMs: 20 })
      const tokens = await Promise.all(Array.from({ length: 1000 }, () => p.getToken()))
      expect(new Set(tokens)).toEqual(new Set(['tok-1-fake']))
      expect(source.calls).toBe(1)
    })

    it('should peek the fresh set synchronously, and nothing before the first fetch or from refreshAt on', async () => {
      const { clock, source, p } = clockedProvider({ jitter: 0, refreshRatio: 0.75 })
      expect(p.peekTokenSet?.()).toBeUndefined()
      expect(source.calls).toBe(0)
      const set = await p.getTokenSet()
      clock.advance(0.75 * HOUR - 1)
      expect(p.peekTokenSet?.()).toBe(set)
      expect(p.stats().l1Hits).toBe(1)
      clock.advance(1)
      // From refreshAt on, peeking starts nothing: getTokenSet serves and refreshes.
      expect(p.peekTokenSet?.()).toBeUndefined()
      expect(source.calls).toBe(1)
      expect(await p.getTokenSet()).toBeDefined()
      await flush()
      expect(source.calls).toBe(2)
      expect(p.peekTokenSet?.()).toMatchObject({ accessToken: 'tok-2-fake' })
    })

    it('should return the token set with its times', async () => {
      const clock = fakeClock()
      const p = createTokenProvider({ source: fakeSource(clock.now), now: clock.now })
      const set = await p.getTokenSet()
      expect(set).toEqual({
        accessToken: 'tok-1-fake',
        tokenType: 'Bearer',
        issuedAt: clock.t,
        expiresAt: clock.t + HOUR,
      })
      expect(Object.isFrozen(set)).toBe(true)
    })
  })

  describe('source events', () => {
    it("should pass what the source reports on to onEvent under the provider's key, and not listen without a hook", async () => {
      const clock = fakeClock()
      const listeners: Array<(e: SourceEvent) => void> = []
      const base = fakeSource(clock.now)
      const source = Object.assign(base, {
        subscribe(listener: (e: SourceEvent) => void) {
          listeners.push(listener)
          return () => {}
        },
      })
      // Nothing to listen for: no hook, no subscriber, no logger (a logger warns about fallbacks).
      createTokenProvider({ source, now: clock.now, logger: false })
      expect(listeners).toHaveLength(0)
      const seen = events()
      const p = createTokenProvider({ source, now: clock.now, onEvent: seen.onEvent })
      expect(listeners).toHaveLength(1)
      listeners[0]?.({ type: 'auth-method-fallback', authMethod: 'client_secret_basic', message: 'm' })
      expect(seen.seen).toEqual([
        { key: p.key, type: 'auth-method-fallback', authMethod: 'client_secret_basic', message: 'm' },
      ])
    })
  })

  describe('refresh policy', () => {
    it('should not refresh before 75% of the lifetime and refresh once after it (background)', async () => {
      const { clock, source, p } = clockedProvider({ jitter: 0, backgroundRefresh: true })
      await p.getToken()
      clock.advance(0.75 * HOUR - 1)
      expect(await p.getToken()).toBe('tok-1-fake')
      expect(source.calls).toBe(1)
      clock.advance(2)
      // Served at once from memory while one refresh runs behind it.
      const during = await Promise.all([p.getToken(), p.getToken(), p.getToken()])
      expect(during).toEqual(['tok-1-fake', 'tok-1-fake', 'tok-1-fake'])
      await flush()
      await flush()
      expect(source.calls).toBe(2)
      expect(await p.getToken()).toBe('tok-2-fake')
    })

    it('should refresh inline for the caller when backgroundRefresh is off (Lambda)', async () => {
      const { clock, ev, p } = clockedProvider({ jitter: 0, backgroundRefresh: false })
      await p.getToken()
      clock.advance(0.8 * HOUR)
      expect(await p.getToken()).toBe('tok-2-fake')
      expect(ev.types()).toContain('refresh')
    })

    it('should default to inline refresh inside AWS Lambda', async () => {
      process.env.AWS_LAMBDA_FUNCTION_NAME = 'fn'
      try {
        const { clock, p } = clockedProvider({ jitter: 0 })
        await p.getToken()
        clock.advance(0.8 * HOUR)
        expect(await p.getToken()).toBe('tok-2-fake')
      } finally {
        delete process.env.AWS_LAMBDA_FUNCTION_NAME
      }
    })

    it('should keep serving the current token when a refresh fails, and report it', async () => {
      const { clock, source, ev, p } = clockedProvider({ jitter: 0, backgroundRefresh: false })
      await p.getToken()
      clock.advance(0.8 * HOUR)
      source.failWith.push(endpointError('boom', 400, { error: 'invalid_client' }))
      expect(await p.getToken()).toBe('tok-1-fake')
      expect(ev.seen.find((e) => e.type === 'error')).toMatchObject({
        code: 'ERR_TOKEN_ENDPOINT',
        status: 400,
      })
    })

    it('should never return a token at or after usableUntil', async () => {
      const { clock, source, p } = clockedProvider({ jitter: 0, expirySkewMs: 30_000 })
      await p.getToken()
      clock.advance(HOUR - 30_000) // exactly usableUntil
      source.failWith.push(endpointError('down', 400))
      await expect(p.getToken()).rejects.toBeInstanceOf(TokenEndpointError)
      expect(await p.getToken()).toBe('tok-3-fake')
    })

    it('should not serve the current token when an inline refresh outlasts it and fails', async () => {
      const { clock, source, p } = clockedProvider({ jitter: 0, backgroundRefresh: false })
      expect(await p.getToken()).toBe('tok-1-fake')
      clock.advance(0.8 * HOUR)
      let release!: () => void
      source.gate = new Promise<void>((r) => {
        release = r
      })
      source.failWith.push(endpointError('slow then 400', 400))
      const pending = p.getToken()
      await flush()
      // The refresh hangs past the old token's usableUntil, then fails.
      clock.advance(0.2 * HOUR)
      source.gate = undefined
      release()
      // tok-1 is past usableUntil and attempt 2 failed: attempt 3 is what gets served.
      expect(await pending).toBe('tok-3-fake')
    })

    it('should pull refreshAt earlier by at most the jitter', async () => {
      for (let i = 0; i < 20; i++) {
        const { clock, source, p } = clockedProvider({ jitter: 0.1, backgroundRefresh: false })
        await p.getToken()
        clock.advance(0.65 * HOUR - 1)
        await p.getToken()
        expect(source.calls).toBe(1)
        clock.advance(0.1 * HOUR + 2)
        await p.getToken()
        expect(source.calls).toBe(2)
      }
    })

    it('should cap the skew so short-lived tokens stay usable', async () => {
      const { clock, source, p } = clockedProvider({ jitter: 0, expirySkewMs: 30_000 }, { lifetimeMs: 4_000 })
      await p.getToken()
      clock.advance(2_999)
      await p.getToken()
      expect(source.calls).toBe(1)
    })
  })

  describe('failures', () => {
    it('should never cache a failure', async () => {
      const { source, p } = clockedProvider()
      source.failWith.push(endpointError('nope', 401, { error: 'invalid_client' }))
      await expect(p.getToken()).rejects.toMatchObject({
        code: 'ERR_TOKEN_ENDPOINT',
        error: 'invalid_client',
      })
      expect(await p.getToken()).toBe('tok-2-fake')
    })

    it('should fail fast on 400/401/403 without retrying', async () => {
      const { source, p } = clockedProvider()
      source.failWith.push(endpointError('x', 403, { error: 'unauthorized_client' }))
      await expect(p.getToken()).rejects.toBeInstanceOf(TokenEndpointError)
      expect(source.calls).toBe(1)
    })

    it('should retry network errors, 429 and 5xx with backoff', async () => {
      const { source, ev, p } = clockedProvider({ retry: { retries: 3, minTimeoutMs: 1, maxTimeoutMs: 5 } })
      source.failWith.push(
        endpointError('net', undefined, { cause: new TypeError('fetch failed') }),
        endpointError('503', 503),
        endpointError('429', 429),
      )
      expect(await p.getToken()).toBe('tok-4-fake')
      expect(ev.seen.filter((e) => e.type === 'retry').map((e) => e.attempt)).toEqual([1, 2, 3])
      expect(p.stats()).toMatchObject({ fetches: 4, fetchErrors: 3 })
    })

    it('should give up after the configured retries with the last error', async () => {
      const { source, p } = clockedProvider({ retry: { retries: 2, minTimeoutMs: 1, maxTimeoutMs: 2 } })
      for (let i = 0; i < 3; i++) source.failWith.push(endpointError(`503 #${i}`, 503))
      await expect(p.getToken()).rejects.toThrow('503 #2')
      expect(source.calls).toBe(3)
    })

    it('should fail with RateLimitedError when the endpoint still answers 429 after the last retry', async () => {
      const { clock, source, p } = clockedProvider({
        retry: { retries: 1, minTimeoutMs: 1, maxTimeoutMs: 2 },
      })
      source.failWith.push(endpointError('429 #0', 429), endpointError('429 #1', 429, { retryAfterMs: 3 }))
      const err = await p.getToken().catch((e) => e)
      // Callers that handle rate limits by code (ERR_RATE_LIMITED) see it, whatever the path.
      expect(err).toBeInstanceOf(RateLimitedError)
      expect(err).toBeInstanceOf(TokenEndpointError)
      expect(err).toMatchObject({ code: 'ERR_RATE_LIMITED', status: 429, retryAfterMs: 3, endpoint: 'e' })
      expect(err.retryAt).toBe(clock.t + 3)
      expect(err.message).toContain('429 #1')
      expect(err.cause).toBeInstanceOf(TokenEndpointError)
      expect(source.calls).toBe(2)
    })

    it('should say how long to wait after a last 429 without Retry-After', async () => {
      const { clock, source, p } = clockedProvider({
        retry: { retries: 0, minTimeoutMs: 250, maxTimeoutMs: 1_000 },
      })
      source.failWith.push(endpointError('429', 429))
      const err = await p.getToken().catch((e) => e)
      expect(err).toBeInstanceOf(RateLimitedError)
      expect(err.retryAfterMs).toBeUndefined()
      // No hint from the endpoint: the next backoff step of the retry policy.
      expect(err.retryAt).toBe(clock.t + 250)
    })

    it('should keep a last 503 a plain TokenEndpointError', async () => {
      const { source, p } = clockedProvider({ retry: { retries: 0 } })
      source.failWith.push(endpointError('503', 503))
      const err = await p.getToken().catch((e) => e)
      expect(err).toBeInstanceOf(TokenEndpointError)
      expect(err).not.toBeInstanceOf(RateLimitedError)
    })

    it('should wait out Retry-After before retrying', async () => {
      const { source, p } = clockedProvider({ retry: { minTimeoutMs: 0, maxTimeoutMs: 0 } })
      source.failWith.push(endpointError('429', 429, { retryAfterMs: 120 }))
      const started = performance.now()
      expect(await p.getToken()).toBe('tok-2-fake')
      expect(performance.now() - started).toBeGreaterThanOrEqual(115)
    })

    it('should fail with RateLimitedError when Retry-After exceeds the retry budget, and share the cooldown', async () => {
      const clock = fakeClock()
      const store = memoryStore({ now: clock.now })
      const a = fakeSource(clock.now)
      const b = fakeSource(clock.now)
      const opts = { store, encryptionKey: key32(), now: clock.now, retry: { maxElapsedMs: 1_000 } }
      const pa = createTokenProvider({ source: a, ...opts })
      const pb = createTokenProvider({ source: b, ...opts })
      a.failWith.push(endpointError('429', 429, { retryAfterMs: 60_000 }))
      const err = await pa.getToken().catch((e) => e)
      expect(err).toBeInstanceOf(RateLimitedError)
      expect(err.retryAt).toBe(clock.t + 60_000)
      await flush()
      // Another instance sharing the store backs off too, without calling the endpoint.
      await expect(pb.getToken()).rejects.toBeInstanceOf(RateLimitedError)
      expect(b.calls).toBe(0)
      clock.advance(60_001)
      expect(await pb.getToken()).toBe('tok-1-fake')
    })

    it('should serve a still-usable token during a cooldown instead of failing', async () => {
      const { clock, source, p } = clockedProvider({
        jitter: 0,
        backgroundRefresh: false,
        retry: { maxElapsedMs: 500 },
      })
      await p.getToken()
      clock.advance(0.8 * HOUR)
      source.failWith.push(endpointError('429', 429, { retryAfterMs: 600_000 }))
      expect(await p.getToken()).toBe('tok-1-fake')
      expect(await p.getToken()).toBe('tok-1-fake')
      expect(source.calls).toBe(2)
    })

    it('should reject a malformed TokenSet from a custom source', async () => {
      const p = createTokenProvider({
        source: {
          id: 'bad',
          fetchToken: async () => ({ accessToken: '', tokenType: 'Bearer', issuedAt: 2, expiresAt: 1 }),
        },
      })
      await expect(p.getToken()).rejects.toMatchObject({
        code: 'ERR_TOKEN_RESPONSE',
        reason: 'bad_token_set',
      })
    })

    it('should let one caller abort its wait without cancelling the others', async () => {
      const { p } = clockedProvider({}, { delayMs: 30 })
      const ac = new AbortController()
      const a = p.getToken({ signal: ac.signal })
      const b = p.getToken()
      ac.abort()
      await expect(a).rejects.toMatchObject({ name: 'AbortError' })
      expect(await b).toBe('tok-1-fake')
    })
  })

  describe('shared store', () => {
    it('should adopt a fresh entry written by another instance', async () => {
      const { clock, shared } = sharedStore()
      const a = fakeSource(clock.now)
      const b = fakeSource(clock.now)
      const pa = createTokenProvider({ source: a, ...shared })
      const ev = events()
      const pb = createTokenProvider({ source: b, ...shared, onEvent: ev.onEvent })
      expect(pa.key).toBe(pb.key)
      expect(await pa.getToken()).toBe('tok-1-fake')
      expect(await pb.getToken()).toBe('tok-1-fake')
      expect(b.calls).toBe(0)
      expect(pb.stats().l2Hits).toBe(1)
      expect(ev.types()).toEqual(['hit-store'])
    })

    it('should cause one token request for 50 cold instances sharing a store', async () => {
      const { clock, shared } = sharedStore()
      let calls = 0
      const providers = Array.from({ length: 50 }, () => {
        const s = fakeSource(clock.now, { delayMs: 40 })
        const fetchToken = s.fetchToken
        s.fetchToken = () => {
          calls++
          return fetchToken()
        }
        return createTokenProvider({ source: s, ...shared })
      })
      const tokens = await Promise.all(providers.map((p) => p.getToken()))
      expect(calls).toBe(1)
      expect(new Set(tokens).size).toBe(1)
      expect(providers.reduce((n, p) => n + p.stats().leaseWaits, 0)).toBe(49)
    })

    it('should fetch itself after lease.waitMs when the lease holder never writes (fail open)', async () => {
      const { clock, store, shared } = sharedStore()
      const source = fakeSource(clock.now)
      const p = createTokenProvider({ source, ...shared, lease: { waitMs: 150 } })
      await store.acquireLease(leaseKey(p.key), 'crashed-instance', HOUR)
      const started = performance.now()
      expect(await p.getToken()).toBe('tok-1-fake')
      expect(performance.now() - started).toBeGreaterThanOrEqual(140)
      expect(p.stats().leaseWaits).toBe(1)
    })

    it('should degrade to memory and direct fetch when the store throws, report once, and recover', async () => {
      const clock = fakeClock()
      const { store, state } = breakableStore(memoryStore({ now: clock.now }))
      const { ev, p } = clockedProvider({ store, encryptionKey: key32(), jitter: 0 }, {}, clock)
      state.mode = 'throw'
      expect(await p.getToken()).toBe('tok-1-fake')
      expect(await p.getToken()).toBe('tok-1-fake')
      expect(ev.types().filter((t) => t === 'store-error')).toHaveLength(1)
      expect(ev.seen.find((e) => e.type === 'store-error')?.message).toContain('ECONNREFUSED')
      state.mode = 'ok'
      clock.advance(HOUR) // expired; the store is tried again after its back-off
      expect(await p.getToken()).toBe('tok-2-fake')
      expect(ev.types()).toContain('store-recovered')
      expect(await store.get(p.key)).toBeDefined()
    })

    it('should bound a hanging store by storeTimeoutMs', async () => {
      const clock = fakeClock()
      const { store, state } = breakableStore(memoryStore({ now: clock.now }))
      state.mode = 'hang'
      const { source, p } = clockedProvider({ store, encryptionKey: key32(), storeTimeoutMs: 50 }, {}, clock)
      const tokens = await Promise.all(Array.from({ length: 20 }, () => p.getToken()))
      expect(new Set(tokens)).toEqual(new Set(['tok-1-fake']))
      expect(source.calls).toBe(1)
      expect(p.stats().storeErrors).toBeGreaterThanOrEqual(1)
    })

    it('should never write the access token or anything secret in clear', async () => {
      const clock = fakeClock()
      const { store, written } = recordingStore(memoryStore({ now: clock.now }))
      const { p } = clockedProvider({ store, encryptionKey: key32() }, { id: 'client-with-secret' }, clock)
      const token = await p.getToken()
      expect(written.length).toBeGreaterThan(0)
      for (const w of written) expect(w).not.toContain(token)
    })

    it('should treat an entry under a wrong key, altered, truncated, forged in clear or copied under another key as a miss', async () => {
      const { clock, store, encryptionKey, shared } = sharedStore()
      const writer = createTokenProvider({ source: fakeSource(clock.now, { id: 'a' }), ...shared })
      await writer.getToken()
      const sealed = (await store.get(writer.key))!
      const parts = sealed.split('.')
      const flip = (s: string) => (s[0] === 'A' ? 'B' : 'A') + s.slice(1)
      const variants: Record<string, string> = {
        altered: [parts[0], parts[1], parts[2], flip(parts[3]!), parts[4]].join('.'),
        truncated: sealed.slice(0, sealed.length - 10),
        garbage: '\u0000not-a-jwe',
        plainJson: JSON.stringify({
          v: 1,
          kind: 'token',
          key: writer.key,
          t: 'forged',
          tt: 'Bearer',
          ia: clock.t,
          ea: clock.t + HOUR,
        }),
      }
      for (const [name, value] of Object.entries(variants)) {
        const source = fakeSource(clock.now, { id: 'a' })
        const reader = createTokenProvider({
          source,
          store: memoryStore({ now: clock.now }),
          encryptionKey,
          now: clock.now,
        })
        await (reader as unknown as { key: string }).key
        const s = memoryStore({ now: clock.now })
        await s.set(reader.key, value, HOUR)
        const r2 = createTokenProvider({ source, store: s, encryptionKey, now: clock.now })
        expect([name, await r2.getToken()]).toEqual([name, 'tok-1-a'])
      }
      // The right entry under another provider's key.
      const other = fakeSource(clock.now, { id: 'b' })
      const s = memoryStore({ now: clock.now })
      const pb = createTokenProvider({ source: other, store: s, encryptionKey, now: clock.now })
      await s.set(pb.key, sealed, HOUR)
      expect(await pb.getToken()).toBe('tok-1-b')
      // Sealed with another key.
      const s2 = memoryStore({ now: clock.now })
      await s2.set(writer.key, sealed, HOUR)
      const { p: wrongKey } = clockedProvider({ store: s2, encryptionKey: key32() }, { id: 'a' }, clock)
      expect(await wrongKey.getToken()).toBe('tok-1-a')
    })

    it('should decrypt with any key of a rotation list and encrypt with the first', async () => {
      const { clock, store, encryptionKey: oldKey, shared } = sharedStore()
      const newKey = key32()
      await createTokenProvider({ source: fakeSource(clock.now), ...shared }).getToken()
      const { source: after, p: rotated } = clockedProvider(
        { store, encryptionKey: [newKey, oldKey] },
        {},
        clock,
      )
      expect(await rotated.getToken()).toBe('tok-1-fake')
      expect(after.calls).toBe(0)
    })

    it('should refuse a shared store without an encryption key, naming both ways out', () => {
      expect(() => createTokenProvider({ source: fakeSource(Date.now), store: memoryStore() })).toThrow(
        /needs `encryptionKey`.*or `encryption: false`/,
      )
      expect(() =>
        createTokenProvider({ source: fakeSource(Date.now), store: memoryStore(), encryption: false }),
      ).not.toThrow()
    })
  })

  describe('invalidate', () => {
    it('should refetch once for a burst of rejections of the same token', async () => {
      const clock = fakeClock()
      const store = memoryStore({ now: clock.now })
      const source = fakeSource(clock.now)
      const p = createTokenProvider({ source, store, encryptionKey: key32(), now: clock.now })
      const t1 = await p.getToken()
      await Promise.all(Array.from({ length: 20 }, () => p.invalidate(t1)))
      const next = await Promise.all(Array.from({ length: 20 }, () => p.getToken()))
      expect(new Set(next)).toEqual(new Set(['tok-2-fake']))
      expect(source.calls).toBe(2)
      // A late rejection of the old token deletes nothing.
      await p.invalidate(t1)
      expect(await p.getToken()).toBe('tok-2-fake')
      expect(source.calls).toBe(2)
    })

    it('should not delete a newer token written by another instance', async () => {
      const { clock, store, shared } = sharedStore()
      const a = createTokenProvider({ source: fakeSource(clock.now, { id: 'x' }), ...shared })
      const old = await a.getToken()
      const other = fakeSource(clock.now, { id: 'x' })
      other.calls = 100
      const b = createTokenProvider({ source: other, ...shared })
      clock.advance(1)
      expect(await b.getToken({ forceRefresh: true })).toBe('tok-101-x')
      const newer = await store.get(a.key)
      await a.invalidate(old)
      expect(await store.get(a.key)).toBe(newer)
    })

    it('should raise TokenRejectedError when the replacement is rejected again right away, and neither serve it nor fetch until the window has passed', async () => {
      const { clock, source, p } = clockedProvider()
      await p.invalidate(await p.getToken())
      const t2 = await p.getToken()
      await expect(p.invalidate(t2)).rejects.toBeInstanceOf(TokenRejectedError)
      // The rejected replacement is not served again, and no refetch loop starts.
      await expect(p.getToken()).rejects.toBeInstanceOf(TokenRejectedError)
      expect(source.calls).toBe(2)
      clock.advance(30_000)
      expect(await p.getToken()).toBe('tok-3-fake')
    })

    it('should drop everything without an argument', async () => {
      const clock = fakeClock()
      const store = memoryStore({ now: clock.now })
      const source = fakeSource(clock.now)
      const p = createTokenProvider({ source, store, encryption: false, now: clock.now })
      await p.getToken()
      await p.invalidate()
      expect(await store.get(p.key)).toBeUndefined()
      expect(await p.getToken()).toBe('tok-2-fake')
    })
  })

  describe('sequence guard', () => {
    it('should never let a late response replace a newer token in memory or in the store', async () => {
      const { clock, shared } = sharedStore()
      let release!: () => void
      const slow = new Promise<void>((r) => {
        release = r
      })
      const a = fakeSource(clock.now, { id: 'seq' })
      // The lease outlives a normal fetch, not this slow one: it expires while the request hangs.
      const p = createTokenProvider({ source: a, ...shared, lease: { ttlMs: 5 } })
      expect(await p.getToken()).toBe('tok-1-seq')
      // A forced refresh whose response is slow (issued at T+10)...
      clock.advance(10)
      a.gate = slow
      const forced = p.getToken({ forceRefresh: true })
      await flush()
      // ...while another instance fetches later (T+20) and writes first.
      clock.advance(10)
      const b = fakeSource(clock.now, { id: 'seq' })
      b.calls = 100
      const q = createTokenProvider({ source: b, ...shared })
      expect(await q.getToken({ forceRefresh: true })).toBe('tok-101-seq')
      release()
      expect(await forced).toBe('tok-101-seq')
      expect(await p.getToken()).toBe('tok-101-seq')
      const reader = createTokenProvider({ source: fakeSource(clock.now, { id: 'seq' }), ...shared })
      expect(await reader.getToken()).toBe('tok-101-seq')
    })
  })

  describe('keys, events and errors', () => {
    it('should put namespace and source identity into the key and no secret', () => {
      const a = createTokenProvider({
        source: { id: 'client=a;scope=x', fetchToken: async () => ({}) as never },
      })
      const b = createTokenProvider({
        source: { id: 'client=a;scope=y', fetchToken: async () => ({}) as never },
      })
      const c = createTokenProvider({
        source: { id: 'client=a;scope=x', fetchToken: async () => ({}) as never },
        namespace: 'prod',
      })
      expect(new Set([a.key, b.key, c.key]).size).toBe(3)
      expect(a.key).toMatch(/^default:[A-Za-z0-9_-]{22}$/)
      expect(c.key.startsWith('prod:')).toBe(true)
    })

    it('should keep tokens out of every event, stat and error', async () => {
      const clock = fakeClock()
      const store = breakableStore(memoryStore({ now: clock.now }))
      const { ev, p } = clockedProvider({ store: store.store, encryptionKey: key32(), jitter: 0 }, {}, clock)
      const t1 = await p.getToken()
      await p.getToken()
      clock.advance(0.9 * HOUR)
      await p.getToken()
      await flush()
      store.state.mode = 'throw'
      await p.invalidate(await p.getToken())
      const t3 = await p.getToken()
      const err = await p.invalidate(t3).catch((e) => e)
      const all = JSON.stringify(ev.seen) + inspect(err) + JSON.stringify(err) + JSON.stringify(p.stats())
      for (const t of [t1, t3, 'tok-2-fake']) expect(all).not.toContain(t)
      expect(ev.types()).toEqual(expect.arrayContaining(['fetch', 'hit-memory', 'invalidate', 'store-error']))
    })

    it('should ignore a throwing onEvent', async () => {
      const p = createTokenProvider({
        source: fakeSource(Date.now),
        onEvent: () => {
          throw new Error('bad hook')
        },
      })
      await expect(p.getToken()).resolves.toBe('tok-1-fake')
    })

    it.each([
      [{ refreshRatio: 1.5 }, 'Expected `refreshRatio` to be a number in (0, 1], got 1.5'],
      [{ refreshRatio: 0 }, 'Expected `refreshRatio` to be a number in (0, 1], got 0'],
      [{ jitter: -1 }, 'Expected `jitter` to be a number in [0, 0.5], got -1'],
      [
        { refreshRatio: 0.1, jitter: 0.2 },
        'Expected `jitter` to be smaller than `refreshRatio` (0.1), got 0.2',
      ],
      [{ expirySkewMs: '5' }, 'Expected `expirySkewMs` to be a number >= 0, got "5"'],
      [{ storeTimeoutMs: 0 }, 'Expected `storeTimeoutMs` to be a number > 0, got 0'],
      [{ retry: { retries: 1.5 } }, 'Expected `retry.retries` to be an integer in [0, 20], got 1.5'],
      [
        { retry: { minTimeoutMs: 10, maxTimeoutMs: 5 } },
        'Expected `retry.maxTimeoutMs` (5) to be at least `retry.minTimeoutMs` (10)',
      ],
      [{ lease: { ttlMs: -1 } }, 'Expected `lease.ttlMs` to be a number > 0, got -1'],
      [{ namespace: 'a#b' }, 'Expected `namespace` to be 1-64 characters'],
      [{ now: 5 }, 'Expected `now` to be a function, got 5'],
      [{ encryptionKey: 'c2hvcnQ=' }, '`encryptionKey` decodes to 5 bytes, not 32'],
      [
        { encryptionKey: 'not base64!' },
        '`encryptionKey` is not base64 (a passphrase?); it is read as base64',
      ],
      [
        { encryptionKey: 'ab'.repeat(32) },
        '`encryptionKey` looks like hex (64 hex digits); it is read as base64 (or base64url) of 32 random bytes: generate one with `openssl rand -base64 32`, or pass a Buffer',
      ],
      [{ encryptionKey: 'correcthorsebatterystaple' }, 'a passphrase or a key of another size?'],
      [
        { encryptionKey: Buffer.alloc(16) },
        'Expected `encryptionKey` to be 32 bytes (AES-256), got 16 bytes',
      ],
      [{ encryption: false, encryptionKey: 'x' }, '`encryption: false` and `encryptionKey` contradict'],
    ])('should reject %j with a message naming the option', (bad, message) => {
      const err = thrownBy(() => createTokenProvider({ source: fakeSource(Date.now), ...(bad as object) }))
      expect(err).toBeInstanceOf(ConfigError)
      expect(err.message).toContain(message)
    })

    it('should reject a missing or wrong source', () => {
      expect(() => createTokenProvider({} as never)).toThrow(/Expected `source` to be a TokenSource/)
      expect(() =>
        createTokenProvider({ source: fakeSource(Date.now), store: {} as never, encryption: false }),
      ).toThrow('Expected `store` to be a TokenStore with a `get` method')
    })

    it('should say when a token expired before it could be served', async () => {
      const clock = fakeClock()
      const source = {
        id: 'short',
        async fetchToken() {
          const issuedAt = clock.now()
          clock.advance(2_000)
          return { accessToken: 'x', tokenType: 'Bearer', issuedAt, expiresAt: issuedAt + 1_000 }
        },
      }
      const p = createTokenProvider({ source, now: clock.now })
      await expect(p.getToken()).rejects.toBeInstanceOf(TokenResponseError)
    })
  })
})
