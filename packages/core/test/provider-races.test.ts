import {
  createTokenProvider,
  DEFAULTS,
  memoryStore,
  RateLimitedError,
  TokenEndpointError,
  TokenRejectedError,
} from '@tokenstash/core'
import { clockedProvider, endpointError, fakeClock, fakeSource, HOUR, key32, pause } from './helpers'
import { breakableStore, leaseKey, sharedStore, slowStore } from './stores'

// Interleavings that the happy-path tests do not reach: a store with a few milliseconds of
// latency, a 429 while others wait, a store call that times out on the lease holder, clocks that
// disagree. Each test here failed on the provider before issue 8.

describe('createTokenProvider under races', () => {
  describe('rejected tokens', () => {
    it('should never adopt a token rejected by invalidate, even while its store delete is in flight', async () => {
      const clock = fakeClock()
      const { store } = slowStore(memoryStore({ now: clock.now }), 3)
      const source = fakeSource(clock.now)
      const p = createTokenProvider({ source, store, encryptionKey: key32(), now: clock.now })
      const t1 = await p.getToken()
      const invalidated = p.invalidate(t1)
      // Reads the store while invalidate's compare-and-delete is still on its way.
      const next = p.getToken()
      await invalidated
      expect(await next).not.toBe(t1)
      expect(await p.getToken()).toBe('tok-2-fake')
      expect(source.calls).toBe(2)
    })

    it('should delete a rejected token from the store once the store heals, and never adopt it meanwhile', async () => {
      const clock = fakeClock()
      const { store, state } = breakableStore(memoryStore({ now: clock.now }))
      const encryptionKey = key32()
      const source = fakeSource(clock.now)
      const p = createTokenProvider({ source, store, encryptionKey, now: clock.now })
      const t1 = await p.getToken()
      state.mode = 'throw'
      await p.invalidate(t1)
      state.mode = 'ok'
      clock.advance(DEFAULTS.storeRetryAfterMs)
      expect(await p.getToken()).toBe('tok-2-fake')
      // Another instance reading the store finds the replacement, not the rejected token.
      const q = createTokenProvider({ source: fakeSource(clock.now), store, encryptionKey, now: clock.now })
      expect(await q.getToken()).toBe('tok-2-fake')
    })

    it('should not hand a token rejected during a running flight to the callers that join that flight', async () => {
      const clock = fakeClock()
      const inner = memoryStore({ now: clock.now })
      // The flight that fetched t1 is still running (its token write is slow; the lease release is
      // not waited for) when t1 is rejected.
      const { store } = slowStore(inner, 0, (op) => (op === 'set' ? 100 : undefined))
      const source = fakeSource(clock.now)
      const p = createTokenProvider({ source, store, encryptionKey: key32(), now: clock.now })
      const first = p.getToken()
      await pause(30)
      const t1 = await p.getToken()
      await p.invalidate(t1)
      expect(await p.getToken()).toBe('tok-2-fake')
      // Even the caller that started the flight: when it ended, t1 was rejected already.
      expect(await first).toBe('tok-2-fake')
    })

    it('should treat invalidate of a token that is no longer current as a no-op', async () => {
      const { source, p } = clockedProvider()
      const t1 = await p.getToken()
      await p.invalidate(t1)
      const t2 = await p.getToken()
      // Late 401s for t1 change nothing, and do not count as a rejection of t2.
      await p.invalidate(t1)
      await p.invalidate(t1)
      expect(await p.getToken()).toBe(t2)
      await expect(p.invalidate(t2)).rejects.toBeInstanceOf(TokenRejectedError)
      expect(source.calls).toBe(2)
    })
  })

  describe('lease', () => {
    it('should keep losers waiting while the winner sleeps out a Retry-After within its budget', async () => {
      const { clock, shared } = sharedStore()
      const a = fakeSource(clock.now)
      const b = fakeSource(clock.now)
      a.failWith.push(endpointError('429', 429, { retryAfterMs: 300 }))
      const winner = createTokenProvider({ source: a, ...shared })
      const loser = createTokenProvider({ source: b, ...shared })
      const won = winner.getToken()
      await pause(30)
      const lost = loser.getToken()
      expect(await won).toBe('tok-2-fake')
      expect(await lost).toBe('tok-2-fake')
      expect(b.calls).toBe(0)
    })

    it('should still write the token and release the lease when one store call of the winner times out', async () => {
      const clock = fakeClock()
      const inner = memoryStore({ now: clock.now })
      const encryptionKey = key32()
      const source = fakeSource(clock.now)
      // The second read of the token (the double-check after winning the lease) hangs past the timeout.
      const { store } = slowStore(inner, 0, (op, key, n) =>
        op === 'get' && !key.includes('#') && n === 2 ? 200 : undefined,
      )
      const p = createTokenProvider({ source, store, encryptionKey, now: clock.now, storeTimeoutMs: 50 })
      expect(await p.getToken()).toBe('tok-1-fake')
      expect(await inner.get(p.key)).toBeDefined()
      expect(await inner.acquireLease(leaseKey(p.key), 'someone-else', 1_000)).toBe(true)
    })

    it('should size the lease from the fetch budget so it outlives the holder', async () => {
      const clock = fakeClock()
      const { store, calls } = slowStore(memoryStore({ now: clock.now }), 0)
      const p = createTokenProvider({
        source: fakeSource(clock.now),
        store,
        encryptionKey: key32(),
        now: clock.now,
        retry: { maxElapsedMs: 20_000 },
      })
      await p.getToken()
      const ttl = calls.find((c) => c.op === 'acquireLease')?.args[1] as number
      expect(ttl).toBeGreaterThanOrEqual(20_000 + DEFAULTS.timeoutMs)
      expect(DEFAULTS.lease.ttlMs).toBeGreaterThan(DEFAULTS.retry.maxElapsedMs + DEFAULTS.timeoutMs)
      expect(DEFAULTS.lease.waitMs).toBeGreaterThanOrEqual(DEFAULTS.retry.maxElapsedMs + DEFAULTS.timeoutMs)
    })

    it('should let one loser take over a lease released without a token, instead of all fetching', async () => {
      const { clock, store, shared } = sharedStore()
      const sources = [0, 1, 2].map(() => fakeSource(clock.now))
      const providers = sources.map((source) =>
        createTokenProvider({ source, ...shared, lease: { waitMs: 2_000 } }),
      )
      await store.acquireLease(leaseKey(providers[0]!.key), 'gone', HOUR)
      const pending = providers.map((p) => p.getToken())
      await pause(60)
      await store.releaseLease(leaseKey(providers[0]!.key), 'gone')
      const tokens = await Promise.all(pending)
      expect(new Set(tokens).size).toBe(1)
      expect(sources.reduce((n, s) => n + s.calls, 0)).toBe(1)
    })

    it('should make losers fail at once with the holder error when its fetch failed fast', async () => {
      const { clock, shared } = sharedStore()
      const a = fakeSource(clock.now)
      const b = fakeSource(clock.now)
      let release!: () => void
      a.gate = new Promise<void>((r) => {
        release = r
      })
      a.failWith.push(
        endpointError('Token endpoint e answered 400 invalid_client', 400, {
          error: 'invalid_client',
          errorDescription: 'bad secret',
        }),
      )
      const holder = createTokenProvider({ source: a, ...shared })
      const waiter = createTokenProvider({ source: b, ...shared, lease: { waitMs: 5_000 } })
      const held = holder.getToken().catch((e) => e)
      await pause(20)
      const started = Date.now()
      const waited = waiter.getToken().catch((e) => e)
      await pause(20)
      release()
      const [e1, e2] = await Promise.all([held, waited])
      expect(e1).toBeInstanceOf(TokenEndpointError)
      expect(e2).toBeInstanceOf(TokenEndpointError)
      expect(e2).toMatchObject({
        code: e1.code,
        status: 400,
        error: 'invalid_client',
        errorDescription: 'bad secret',
        retryable: false,
      })
      expect(b.calls).toBe(0)
      expect(Date.now() - started).toBeLessThan(2_000)
    })
  })

  describe('rate limits', () => {
    it('should share and honour a cooldown after a 429 without Retry-After, growing on repeated 429s', async () => {
      const { clock, shared } = sharedStore()
      const a = fakeSource(clock.now)
      const b = fakeSource(clock.now)
      const retry = { retries: 0, minTimeoutMs: 250, maxTimeoutMs: 600 }
      const pa = createTokenProvider({ source: a, ...shared, retry })
      const pb = createTokenProvider({ source: b, ...shared, retry })
      const limited = () => endpointError('429', 429)
      a.failWith.push(limited(), limited(), limited())
      const first = await pa.getToken().catch((e) => e)
      expect(first).toBeInstanceOf(RateLimitedError)
      expect(first.retryAt).toBe(clock.t + 250)
      // Honoured by this instance and by another one sharing the store: nobody calls the endpoint.
      await expect(pa.getToken()).rejects.toMatchObject({ code: 'ERR_RATE_LIMITED', retryAt: clock.t + 250 })
      await expect(pb.getToken()).rejects.toBeInstanceOf(RateLimitedError)
      expect([a.calls, b.calls]).toEqual([1, 0])
      clock.advance(250)
      const second = await pa.getToken().catch((e) => e)
      expect(second.retryAt).toBe(clock.t + 500)
      clock.advance(500)
      const third = await pa.getToken().catch((e) => e)
      expect(third.retryAt).toBe(clock.t + 600)
      clock.advance(600)
      expect(await pa.getToken()).toBe('tok-4-fake')
      expect(b.calls).toBe(0)
    })
  })

  describe('clock skew of ±30 s between instances', () => {
    it('should not serve a token written by a fast-clock instance past its real usableUntil', async () => {
      const { clock: real, store, encryptionKey } = sharedStore()
      const fast = () => real.t + 30_000
      const slow = () => real.t - 30_000
      const writer = createTokenProvider({ source: fakeSource(fast), store, encryptionKey, now: fast })
      const t1 = await writer.getToken()
      const readers = [real.now, slow].map((now, i) => {
        const source = fakeSource(now)
        source.calls = 100 * (i + 1)
        return createTokenProvider({ source, store, encryptionKey, now, jitter: 0 })
      })
      for (const r of readers) expect(await r.getToken()).toBe(t1)
      // Real time: one millisecond past the token's real usableUntil (real expiry − expirySkew).
      real.advance(HOUR - DEFAULTS.expirySkewMs + 1)
      for (const r of readers) expect(await r.getToken()).not.toBe(t1)
    })

    it('should let a slow-clock instance write the token it fetched over an entry from a fast-clock one', async () => {
      const { clock: real, store, encryptionKey, shared } = sharedStore()
      const fast = () => real.t + 30_000
      const slow = () => real.t - 30_000
      const f = createTokenProvider({
        source: fakeSource(fast, { id: 'x' }),
        store,
        encryptionKey,
        now: fast,
      })
      const sSource = fakeSource(slow, { id: 'x' })
      sSource.calls = 100
      const s = createTokenProvider({ source: sSource, store, encryptionKey, now: slow })
      await f.getToken()
      real.advance(10_000)
      expect(await s.getToken({ forceRefresh: true })).toBe('tok-101-x')
      const reader = createTokenProvider({ source: fakeSource(real.now, { id: 'x' }), ...shared })
      expect(await reader.getToken()).toBe('tok-101-x')
    })
  })
})
