import {
  clientCredentials,
  createTokenProvider,
  DEFAULTS,
  memoryStore,
  TokenEndpointError,
  type TokenEvent,
  type TokenSource,
  type TokenStore,
} from '@tokenstash/core'
import { clockedProvider, endpointError, fakeClock, fakeSource, flush, HOUR, key32, pause } from './helpers'
import { leaseKey, sharedStore, slowStore } from './stores'

// Issue 16: leases and failure markers owned by one holder and attempt, store calls that land
// after their timeout, callers with deadlines, invalidate racing store answers, skewed clocks and
// transports that throw anything. Each test here failed on the provider before issue 16.

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

  describe('lease ownership', () => {
    it('should not fail the waiters of the live holder with the failure of a former holder that froze', async () => {
      const { clock, shared } = sharedStore()
      const make = (offset: number) => {
        const source = fakeSource(clock.now, { id: 'x' })
        source.calls = offset
        let open!: () => void
        source.gate = new Promise<void>((r) => {
          open = r
        })
        const provider = createTokenProvider({ source, ...shared })
        return { source, provider, open: () => open() }
      }
      const a = make(0)
      a.source.failWith = [endpointError('refused', 400, { error: 'invalid_client' })]
      const b = make(100)
      const c = make(200)
      const aGot = a.provider.getToken().catch((e: unknown) => e)
      while (a.source.calls === 0) await flush()
      // A freezes past any lease ttl: no timer of A runs while the clock moves.
      clock.advance(60_000)
      const bGot = b.provider.getToken()
      while (b.source.calls === 100) await flush()
      const cGot = c.provider.getToken()
      await pause(50)
      // A thaws: its request fails, and it reports the failure as if it still held the lease.
      a.open()
      expect(await aGot).toBeInstanceOf(TokenEndpointError)
      // C polls long enough to read whatever A wrote.
      await pause(400)
      b.open()
      expect(await bGot).toBe('tok-101-x')
      expect(await cGot).toBe('tok-101-x')
      expect(c.source.calls).toBe(200)
    })

    it('should never leave a lease behind for an acquire that lands after storeTimeoutMs', async () => {
      const clock = fakeClock()
      const inner = memoryStore({ now: clock.now })
      let land!: () => void
      const landed = new Promise<void>((r) => {
        land = r
      })
      const signals: Array<AbortSignal | undefined> = []
      const store: TokenStore = {
        get: (k, o) => inner.get(k, o),
        set: (k, v, t, o) => inner.set(k, v, t, o),
        delete: (k, e, o) => inner.delete(k, e, o),
        releaseLease: (k, w, o) => inner.releaseLease(k, w, o),
        // Answers late and ignores its signal, like an SDK call retried after the caller gave up.
        acquireLease: async (k, w, t, o) => {
          signals.push(o?.signal)
          await landed
          return inner.acquireLease(k, w, t)
        },
      }
      const p = createTokenProvider({
        source: fakeSource(clock.now),
        store,
        encryptionKey: key32(),
        now: clock.now,
        storeTimeoutMs: 50,
      })
      expect(await p.getToken()).toBe('tok-1-fake')
      expect(signals[0]?.aborted).toBe(true)
      land()
      await pause(20)
      expect(await inner.get(leaseKey(p.key))).toBeUndefined()
    })

    it('should not make callers wait on a hung releaseLease', async () => {
      const clock = fakeClock()
      const inner = memoryStore({ now: clock.now })
      const store: TokenStore = {
        get: (k, o) => inner.get(k, o),
        set: (k, v, t, o) => inner.set(k, v, t, o),
        delete: (k, e, o) => inner.delete(k, e, o),
        acquireLease: (k, w, t, o) => inner.acquireLease(k, w, t, o),
        releaseLease: () => new Promise<void>(() => {}),
      }
      const p = createTokenProvider({
        source: fakeSource(clock.now),
        store,
        encryptionKey: key32(),
        now: clock.now,
        storeTimeoutMs: 60_000,
        // The hung release times out a minute later, after this file has ended: its warning is
        // right, but jest reports it as "Cannot log after tests are done".
        logger: false,
      })
      expect(await p.getToken()).toBe('tok-1-fake')
    })

    it("should size the lease from the source's own timeoutMs", async () => {
      const clock = fakeClock()
      const ttls: number[] = []
      const inner = memoryStore({ now: clock.now })
      // No renewLease: the lease must outlive the whole fetch budget.
      const store: TokenStore = {
        get: (k, o) => inner.get(k, o),
        set: (k, v, t, o) => inner.set(k, v, t, o),
        delete: (k, e, o) => inner.delete(k, e, o),
        acquireLease: (k, w, t, o) => {
          ttls.push(t)
          return inner.acquireLease(k, w, t, o)
        },
        releaseLease: (k, w, o) => inner.releaseLease(k, w, o),
      }
      const source = clientCredentials({
        tokenEndpoint: 'https://idp.example.com/oauth2/token',
        clientId: 'c',
        clientSecret: 's',
        timeoutMs: 30_000,
        fetch: (async () =>
          new Response(JSON.stringify({ access_token: 'at', token_type: 'Bearer', expires_in: 3600 }), {
            headers: { 'content-type': 'application/json' },
          })) as typeof fetch,
      })
      const p = createTokenProvider({ source, store, encryptionKey: key32(), now: clock.now })
      await p.getToken()
      // One request may take 30 s after 15 s of retries: a shorter lease expires under a live holder.
      expect(ttls[0]).toBeGreaterThan(DEFAULTS.retry.maxElapsedMs + 30_000)
    })

    it('should let waiters take over within seconds from a holder that froze, with a store that renews leases', async () => {
      const { clock, shared } = sharedStore()
      const holder = fakeSource(clock.now, { id: 'x' })
      holder.gate = new Promise<void>(() => {})
      const h = createTokenProvider({ source: holder, ...shared })
      void h.getToken().catch(() => {})
      while (holder.calls === 0) await flush()
      const waiterSource = fakeSource(clock.now, { id: 'x' })
      waiterSource.calls = 100
      // A long wait: only a lease that expires (or is taken over) fast ends it before the test's timeout.
      const w = createTokenProvider({ source: waiterSource, ...shared, lease: { waitMs: 600_000 } })
      const got = w.getToken()
      await pause(30)
      // The holder freezes (none of its timers run) for 8 s: a renewed lease is gone by then.
      clock.advance(8_000)
      expect(await got).toBe('tok-101-x')
    })

    it('should keep a lease alive by renewing it while a live holder fetches longer than its ttl', async () => {
      const store = memoryStore()
      const holder = fakeSource(Date.now, { id: 'x' })
      let open!: () => void
      holder.gate = new Promise<void>((r) => {
        open = r
      })
      const h = createTokenProvider({ source: holder, store, encryption: false, lease: { ttlMs: 1_500 } })
      const got = h.getToken()
      while (holder.calls === 0) await flush()
      await pause(2_500)
      expect(await store.acquireLease(leaseKey(h.key), 'someone-else', 60_000)).toBe(false)
      open()
      expect(await got).toBe('tok-1-x')
    })
    it("should stop renewing a lease once its holder's fetch outlives the fetch budget plus the margin", async () => {
      const inner = memoryStore()
      let renewals = 0
      const store: TokenStore = {
        ...inner,
        renewLease: (k, w, t, o) => {
          renewals++
          return inner.renewLease!(k, w, t, o)
        },
      }
      // A source whose request hangs past its own timeoutMs (a custom source that ignores it).
      const holder: TokenSource = { id: 'x', timeoutMs: 100, fetchToken: () => new Promise<never>(() => {}) }
      const h = createTokenProvider({
        source: holder,
        store,
        encryption: false,
        retry: { maxElapsedMs: 100 },
        lease: { ttlMs: 600 },
      })
      void h.getToken().catch(() => {})
      // Held for the fetch budget (100 + 100 ms) + 5 s at most: floor(5,200 / 200) = 26 renewals, then none.
      const deadline = Date.now() + 20_000
      while (renewals < 26 && Date.now() < deadline) await pause(50)
      await pause(700)
      expect(renewals).toBe(26)
      // ...and the lease is left to expire, so another instance can take over.
      await pause(700)
      expect(await store.acquireLease(leaseKey(h.key), 'someone-else', 60_000)).toBe(true)
    })
  })

  describe('refresh window', () => {
    it('should not poll a store once per few milliseconds while another instance holds the lease', async () => {
      const clock = fakeClock()
      const inner = memoryStore({ now: clock.now })
      let acquires = 0
      const store: TokenStore = {
        ...inner,
        acquireLease: (k, w, t, o) => {
          acquires++
          return inner.acquireLease(k, w, t, o)
        },
      }
      const p = createTokenProvider({
        source: fakeSource(clock.now),
        store,
        encryption: false,
        now: clock.now,
        jitter: 0,
      })
      await p.getToken()
      await inner.acquireLease(leaseKey(p.key), 'another-instance', HOUR)
      acquires = 0
      // 800 ms before usableUntil (expiry − 30 s): the end of the refresh window.
      clock.advance(HOUR - DEFAULTS.expirySkewMs - 800)
      for (let i = 0; i < 40; i++) {
        await p.getToken()
        await pause(2)
        clock.advance(10)
      }
      // 400 ms of calls: one try, not one every left/8 (100 ms, then less and less).
      expect(acquires).toBe(1)
    })
  })

  describe('fail-open events', () => {
    it('should report a fetch made because the store is down, and one made after the lease wait ran out', async () => {
      const clock = fakeClock()
      const inner = memoryStore({ now: clock.now })
      const failing: TokenStore = {
        get: async () => {
          throw new Error('ECONNREFUSED')
        },
        set: async () => {},
        delete: async () => {},
        acquireLease: async () => {
          throw new Error('ECONNREFUSED')
        },
        releaseLease: async () => {},
      }
      const seen: TokenEvent[] = []
      const p = createTokenProvider({
        source: fakeSource(clock.now),
        store: failing,
        encryption: false,
        now: clock.now,
        onEvent: (e) => seen.push(e),
      })
      await p.getToken()
      expect(seen.filter((e) => e.type === 'fail-open').map((e) => e.reason)).toEqual(['store-down'])
      const q = createTokenProvider({
        source: fakeSource(clock.now),
        store: inner,
        encryption: false,
        now: clock.now,
        lease: { waitMs: 0 },
        onEvent: (e) => seen.push(e),
      })
      await inner.acquireLease(leaseKey(q.key), 'someone-else', 60_000)
      await q.getToken()
      expect(seen.filter((e) => e.type === 'fail-open').map((e) => e.reason)).toEqual([
        'store-down',
        'lease-wait-timeout',
      ])
    })
  })

  describe('callers with deadlines (inline refresh)', () => {
    const inRefreshWindow = async () => {
      const { clock, source, p } = clockedProvider({ jitter: 0, backgroundRefresh: false })
      const t1 = await p.getToken()
      // The identity provider hangs from now on.
      source.gate = new Promise<void>(() => {})
      clock.advance(0.8 * HOUR)
      return { p, t1, source }
    }

    it('should serve the current token when the caller aborts during a hanging refresh', async () => {
      const { p, t1 } = await inRefreshWindow()
      const controller = new AbortController()
      const got = p.getToken({ signal: controller.signal })
      await pause(10)
      controller.abort(new Error('deadline'))
      expect(await got).toBe(t1)
    })

    it('should not make the next callers wait on the same hanging refresh', async () => {
      const { p, t1, source } = await inRefreshWindow()
      const controller = new AbortController()
      const first = p.getToken({ signal: controller.signal })
      await pause(10)
      controller.abort()
      expect(await first).toBe(t1)
      // No signal, no deadline: still the current token, not a wait for the hung request.
      expect(await p.getToken()).toBe(t1)
      expect(await p.getToken()).toBe(t1)
      expect(source.calls).toBe(2)
    })

    it(
      'should bound the wait of a caller without a signal by inlineRefreshWaitMs',
      async () => {
        const { p, t1 } = await inRefreshWindow()
        expect(await p.getToken()).toBe(t1)
      },
      DEFAULTS.inlineRefreshWaitMs + 5_000,
    )
  })

  describe('invalidate wins', () => {
    it('should not re-adopt the token dropped by invalidate() from a store whose delete is slower than a read', async () => {
      const clock = fakeClock()
      const { store } = slowStore(memoryStore({ now: clock.now }), 0, (op) =>
        op === 'delete' ? 50 : undefined,
      )
      const source = fakeSource(clock.now)
      const p = createTokenProvider({ source, store, encryptionKey: key32(), now: clock.now })
      const t1 = await p.getToken()
      const dropped = p.invalidate()
      const during = p.getToken()
      await dropped
      await during
      expect(await p.getToken()).not.toBe(t1)
    })

    it('should not install a dropped token brought by a flight that started before invalidate()', async () => {
      const clock = fakeClock()
      const inner = memoryStore({ now: clock.now })
      const encryptionKey = key32()
      const writer = createTokenProvider({
        source: fakeSource(clock.now),
        store: inner,
        encryptionKey,
        now: clock.now,
      })
      const t1 = await writer.getToken()
      // The first read sees the token at once but its answer arrives late, after invalidate() began.
      let reads = 0
      const store: TokenStore = {
        ...inner,
        get: async (k, o) => {
          const value = await inner.get(k, o)
          if (++reads === 1) await pause(50)
          return value
        },
      }
      const source = fakeSource(clock.now)
      source.calls = 100
      const p = createTokenProvider({ source, store, encryptionKey, now: clock.now })
      const before = p.getToken()
      await pause(5)
      await p.invalidate()
      await before.catch(() => undefined)
      expect(await p.getToken()).not.toBe(t1)
    })
  })

  describe('clock skew of ±30 s', () => {
    it('should never serve a 60 s token written by a fast clock past its real expiry on a slow clock', async () => {
      const { clock: real, store, encryptionKey } = sharedStore()
      const fast = () => real.t + 30_000
      const slow = () => real.t - 30_000
      const writer = createTokenProvider({
        source: fakeSource(fast, { lifetimeMs: 60_000 }),
        store,
        encryptionKey,
        now: fast,
      })
      const t1 = await writer.getToken()
      const seen: TokenEvent[] = []
      const readerSource = fakeSource(slow, { lifetimeMs: 60_000 })
      readerSource.calls = 100
      const reader = createTokenProvider({
        source: readerSource,
        store,
        encryptionKey,
        now: slow,
        onEvent: (e) => seen.push(e),
      })
      const realExpiry = real.t + 60_000
      for (let t = 0; t <= 120_000; t += 1_000) {
        if ((await reader.getToken()) === t1) expect(real.t).toBeLessThan(realExpiry)
        real.advance(1_000)
      }
      expect(seen.filter((e) => e.type === 'skew')).toHaveLength(1)
    })
  })
})
