import {
  createTokenProvider,
  RateLimitedError,
  TokenEndpointError,
  type TokenProvider,
  type TokenProviderOptions,
} from '@tokenstash/core'
import { fakeSource, key32 } from './helpers'
import { sharedStore } from './stores'

// ensureFresh: what a scheduled warmer asks of a provider. The fleet's earliest refresh point is
// issuedAt + (refreshRatio − jitter)·L: with 0.75 and 0.05 on a 100 s token, 70 s after issue.
const L = 100_000
// One fake clock for every instance: 100 s tokens are shared only without the skew tolerance.
const policy = { refreshRatio: 0.75, jitter: 0.05, expirySkewMs: 0, clockSkewToleranceMs: 0 }

function fleet() {
  const { clock, store, shared } = sharedStore()
  const source = fakeSource(clock.now, { lifetimeMs: L })
  /** One instance of the fleet; `extra` goes on top of the fleet's options. */
  const make = (extra: Partial<TokenProviderOptions> = {}) =>
    createTokenProvider({ source, ...shared, ...policy, ...extra })
  /** What `provider.ensureFresh` answers when asked for a token good for the next 10 s. */
  const outcome = async (provider: TokenProvider) =>
    (await provider.ensureFresh!({ until: clock.t + 10_000 })).outcome
  /** Asserts that one token request was made so far, and that `ms` later `provider` refreshes with a second. */
  const expectSecondRequestAfter = async (provider: TokenProvider, ms: number) => {
    expect(source.calls).toBe(1)
    clock.advance(ms)
    expect(await outcome(provider)).toBe('refreshed')
    expect(source.calls).toBe(2)
  }
  return { clock, store, source, make, outcome, expectSecondRequestAfter }
}

describe('ensureFresh', () => {
  it('should fetch under the lease when the store is empty, then find the token fresh', async () => {
    const { clock, source, make } = fleet()
    const warmer = make()
    const first = await warmer.ensureFresh!({ until: clock.t + 10_000 })
    expect(first.outcome).toBe('refreshed')
    expect(first.refreshAt).toBe(clock.t + 0.7 * L)
    const again = await warmer.ensureFresh!({ until: clock.t + 10_000 })
    expect(again.outcome).toBe('fresh')
    expect(source.calls).toBe(1)
    // An instance of the fleet adopts the warmer's token from the store: no second request.
    expect(await make().getToken()).toBe('tok-1-fake')
    expect(source.calls).toBe(1)
  })

  it('should refresh when the fleet would reach its (most jittered) refresh point before `until`', async () => {
    const { clock, source, make } = fleet()
    const warmer = make()
    await warmer.ensureFresh!({ until: clock.t })
    clock.advance(60_000)
    // 70 s after issue is the fleet's earliest refresh point: 69.9 s is still fine, 70 s is not.
    expect((await warmer.ensureFresh!({ until: clock.t + 9_900 })).outcome).toBe('fresh')
    const r = await warmer.ensureFresh!({ until: clock.t + 10_000 })
    expect(r.outcome).toBe('refreshed')
    expect(source.calls).toBe(2)
    // Fleet instances see the new token before any of them reaches a refresh point.
    const instance = make()
    clock.advance(9_000)
    expect(await instance.getToken()).toBe('tok-2-fake')
    expect(source.calls).toBe(2)
  })

  it('should not fetch while another instance holds the lease (two warmers never fetch twice)', async () => {
    const { clock, source, make, outcome } = fleet()
    let release!: () => void
    source.gate = new Promise((r) => {
      release = r
    })
    const a = make()
    const b = make()
    const first = a.ensureFresh!({ until: clock.t + 10_000 })
    await new Promise((r) => setTimeout(r, 10))
    expect(await outcome(b)).toBe('held')
    release()
    expect((await first).outcome).toBe('refreshed')
    expect(await outcome(b)).toBe('fresh')
    expect(source.calls).toBe(1)
  })

  it('should honour a cooldown with a RateLimitedError, without asking the endpoint again', async () => {
    const { clock, source, store } = fleet()
    const warmer = createTokenProvider({
      ...policy,
      source,
      store,
      encryption: false,
      now: clock.now,
      retry: { retries: 0 },
    })
    source.failWith.push(
      new TokenEndpointError('slow down', {
        endpoint: 'x',
        status: 429,
        retryable: true,
        retryAfterMs: 30_000,
      }),
    )
    await expect(warmer.ensureFresh!({ until: clock.t + 1_000 })).rejects.toBeInstanceOf(TokenEndpointError)
    const calls = source.calls
    await expect(warmer.ensureFresh!({ until: clock.t + 1_000 })).rejects.toBeInstanceOf(RateLimitedError)
    expect(source.calls).toBe(calls)
  })

  it('should skip a key no instance used within usedWithinMs, and warm one that was used', async () => {
    const { clock, source, make } = fleet()
    const warmer = make()
    expect((await warmer.ensureFresh!({ until: clock.t + 1_000, usedWithinMs: 60_000 })).outcome).toBe(
      'unused',
    )
    expect(source.calls).toBe(0)
    const instance = make()
    await instance.getToken()
    await new Promise((r) => setImmediate(r))
    clock.advance(30_000)
    expect((await warmer.ensureFresh!({ until: clock.t + 1_000, usedWithinMs: 60_000 })).outcome).toBe(
      'fresh',
    )
    clock.advance(40_000)
    expect((await warmer.ensureFresh!({ until: clock.t + 1_000, usedWithinMs: 60_000 })).outcome).toBe(
      'unused',
    )
  })

  it('should keep an idle key only usable until `until`, and before the refresh point once used', async () => {
    const { clock, source, make } = fleet()
    const warmer = make()
    await warmer.ensureFresh!({ until: clock.t })
    clock.advance(60_000)
    // Usable until 100 s after issue (no expiry skew, no clock margin on one clock).
    const idle = await warmer.ensureFresh!({ until: clock.t + 15_000, idleAfterMs: 1_000 })
    expect(idle).toMatchObject({ outcome: 'fresh', idle: true })
    expect(source.calls).toBe(1)
    await make().getToken()
    await new Promise((r) => setImmediate(r))
    const used = await warmer.ensureFresh!({ until: clock.t + 15_000, idleAfterMs: 1_000 })
    expect(used).toMatchObject({ outcome: 'refreshed', idle: false })
    expect(source.calls).toBe(2)
  })

  it('should mark use at most once a minute from the warm path, without awaiting the store', async () => {
    const { clock, store, make } = fleet()
    const sets: string[] = []
    const set = store.set.bind(store)
    store.set = (k, v, t) => {
      sets.push(k)
      return set(k, v, t)
    }
    const instance = make()
    await instance.getToken()
    for (let i = 0; i < 100; i++) {
      await instance.getToken()
      clock.advance(100)
    }
    await new Promise((r) => setImmediate(r)) // a mark is written in the check phase
    expect(sets.filter((k) => k.endsWith('#used'))).toHaveLength(1)
    clock.advance(60_000)
    await instance.getToken()
    await new Promise((r) => setImmediate(r))
    expect(sets.filter((k) => k.endsWith('#used'))).toHaveLength(2)
  })

  it("should write a cold instance's use mark only after its first token is served, so the store read goes alone", async () => {
    const { store, make } = fleet()
    await make().getToken() // the fleet's token is in the store
    await new Promise((r) => setImmediate(r)) // and that instance's use mark
    const log: string[] = []
    const get = store.get.bind(store)
    const set = store.set.bind(store)
    store.get = async (k, o) => {
      log.push(`get ${k.split('#')[1] ?? 'token'}`)
      const v = await get(k, o)
      log.push('get answered')
      return v
    }
    store.set = (k, v, t, o) => {
      log.push(`set ${k.split('#')[1] ?? 'token'}`)
      return set(k, v, t, o)
    }
    const instance = make()
    await instance.getTokenSet()
    log.push('served')
    // Written within the microtasks that follow, so a test that ends with its token sees it land.
    for (let i = 0; i < 5; i++) await Promise.resolve()
    log.push('a few awaits later')
    // The mark is still written (a warmer's onlyIfUsedWithinMs reads it), once, after the token.
    expect(log).toEqual(['get token', 'get answered', 'served', 'set used', 'a few awaits later'])
    // A call that fails marks use too: callers asked for the key, so a warmer should keep it warm.
    const failing = fleet()
    failing.source.failWith.push(new Error('endpoint down'))
    const marks: string[] = []
    const failingSet = failing.store.set.bind(failing.store)
    failing.store.set = (k, v, t, o) => {
      marks.push(k)
      return failingSet(k, v, t, o)
    }
    await expect(failing.make().getToken()).rejects.toThrow()
    await new Promise((r) => setImmediate(r))
    expect(marks.filter((k) => k.endsWith('#used'))).toHaveLength(1)
  })

  it('should reject, not throw, when the clock given as `now` throws', async () => {
    const { store, source } = fleet()
    let broken = false
    const provider = createTokenProvider({
      source,
      store,
      encryptionKey: key32(),
      now: () => {
        if (broken) throw new Error('clock failed')
        return 0
      },
    })
    broken = true
    const call = provider.getTokenSet()
    expect(call).toBeInstanceOf(Promise)
    await expect(call).rejects.toThrow('clock failed')
  })

  it('should keep its own token fresh, fetching once per refresh cycle, when tokens are too short to share', async () => {
    const { clock, make, outcome, expectSecondRequestAfter } = fleet()
    const events: string[] = []
    // The default ±30 s tolerance: 100 s tokens are not shared, each instance fetches its own.
    const warmer = make({
      clockSkewToleranceMs: 30_000,
      encryptionKey: key32(),
      onEvent: (e) => events.push(e.type),
    })
    const first = await warmer.ensureFresh!({ until: clock.t + 10_000 })
    expect(first).toMatchObject({ outcome: 'refreshed', refreshAt: clock.t + 0.7 * L })
    expect(events).toContain('skew')
    for (let i = 0; i < 5; i++) {
      clock.advance(10_000)
      expect(await outcome(warmer)).toBe('fresh')
    }
    await expectSecondRequestAfter(warmer, 10_000)
  })

  it('should not refresh a token it renewed itself because a store read failed or timed out', async () => {
    const { clock, store, make, outcome, expectSecondRequestAfter } = fleet()
    let failGets = false
    const flaky = {
      ...store,
      get: (key: string, o?: { signal?: AbortSignal }) =>
        failGets ? Promise.reject(new Error('DynamoDB get timed out')) : store.get(key, o),
    }
    const warmer = make({ store: flaky, encryptionKey: key32(), logger: false })
    expect(await outcome(warmer)).toBe('refreshed')
    clock.advance(5_000)
    // The store cannot be read for a round: the token this warmer wrote 5 s ago is still fresh.
    failGets = true
    expect(await outcome(warmer)).toBe('fresh')
    // ...but one that nears the fleet's refresh point is still renewed, store or not.
    await expectSecondRequestAfter(warmer, 60_000)
  })

  it('should name a bad `until`', async () => {
    const { make } = fleet()
    await expect(make().ensureFresh!({ until: Number.NaN })).rejects.toThrow('`until`')
  })
})
