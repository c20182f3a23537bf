import { ConfigError, createTokenProvider, memoryStore, type TokenEvent } from '@tokenstash/core'
import { createWarmer, WarmError } from '@tokenstash/warmer'
import { fakeClock, fakeSource, key32 } from '../../core/test/helpers'

const L = 100_000
// One fake clock for every instance: 100 s tokens are shared only without the skew tolerance.
const policy = { refreshRatio: 0.75, jitter: 0.05, expirySkewMs: 0, clockSkewToleranceMs: 0 }

/** One fleet: a store, a source, providers built alike (the warmer's and the instances'). */
function fleet({ delayMs = 0 } = {}) {
  const clock = fakeClock()
  const store = memoryStore({ now: clock.now })
  const encryptionKey = key32()
  const source = fakeSource(clock.now, { lifetimeMs: L, delayMs })
  const seen: TokenEvent[] = []
  const make = (onEvent?: (e: TokenEvent) => void) =>
    createTokenProvider({
      source,
      store,
      encryptionKey,
      now: clock.now,
      backgroundRefresh: false,
      onEvent,
      ...policy,
    })
  /** An instance in Lambda mode; its token requests (fetch or inline refresh) are recorded. */
  const instance = () => make((e) => seen.push(e))
  const instanceRequests = () => seen.filter((e) => e.type === 'fetch' || e.type === 'refresh').length
  return { clock, store, source, make, instance, instanceRequests }
}

describe('createWarmer', () => {
  describe('options', () => {
    it('should name an unknown option', () => {
      const { make } = fleet()
      expect(() =>
        createWarmer({ providers: { a: make() }, intervalMs: 1_000, intervalSeconds: 1 } as never),
      ).toThrow(
        new ConfigError(
          'Unknown option `intervalSeconds` of createWarmer; expected one of providers, intervalMs, marginMs, concurrency, onlyIfUsedWithinMs, logger, now',
        ),
      )
    })

    it('should name a bad provider, interval, concurrency and window', () => {
      const { make } = fleet()
      const providers = { a: make() }
      expect(() => createWarmer({ providers: { a: {} as never }, intervalMs: 1 })).toThrow('`providers.a`')
      expect(() => createWarmer({ providers: {}, intervalMs: 1 })).toThrow('`providers`')
      expect(() => createWarmer({ providers } as never)).toThrow('`intervalMs`')
      expect(() => createWarmer({ providers, intervalMs: 1, concurrency: 1.5 })).toThrow('`concurrency`')
      expect(() => createWarmer({ providers, intervalMs: 1, onlyIfUsedWithinMs: 2 * 86_400_000 })).toThrow(
        '`onlyIfUsedWithinMs`',
      )
      expect(() => createWarmer({ providers, intervalMs: 1, logger: {} as never })).toThrow('`logger`')
    })
  })

  describe('warm', () => {
    it('should refresh an empty store, then find it fresh; an instance then asks nobody', async () => {
      const { clock, source, make, instance, instanceRequests } = fleet()
      const { warm } = createWarmer({ providers: { orders: make() }, intervalMs: 5_000, now: clock.now })
      const first = await warm()
      expect(first.providers.orders).toMatchObject({ status: 'refreshed', by: 'warmer' })
      expect((await warm()).providers.orders).toMatchObject({ status: 'fresh' })
      await instance().getToken()
      expect([source.calls, instanceRequests()]).toEqual([1, 0])
    })

    it('should keep Lambda-mode instances from ever waiting on a token request after the first round', async () => {
      const { clock, source, make, instance, instanceRequests } = fleet()
      const { warm } = createWarmer({ providers: { orders: make() }, intervalMs: 5_000, now: clock.now })
      await warm()
      let containers = [instance(), instance()]
      // 10 lifetimes: a round every 5 s, calls every second, a container recycled every 7 s.
      for (let s = 1; s <= 10 * (L / 1_000); s++) {
        clock.advance(1_000)
        if (s % 5 === 0) expect((await warm()).providers.orders!.status).not.toBe('failed')
        if (s % 7 === 0) containers = [containers[1]!, instance()]
        for (const c of containers) await c.getToken()
        // A second passes: the event loop turns (a use mark is written in its check phase).
        await new Promise((r) => setImmediate(r))
      }
      expect(instanceRequests()).toBe(0)
      // The active fleet costs a request per (0.70 L − interval − margin) at most: 62.5 s here.
      expect(source.calls).toBeLessThanOrEqual(Math.floor((10 * L) / 62_500) + 1)
    })

    it('should keep an idle key usable with at most runtime / (0.75 × lifetime) + 1 requests', async () => {
      const { clock, source, make } = fleet()
      const { warm } = createWarmer({ providers: { orders: make() }, intervalMs: 5_000, now: clock.now })
      const runtime = 20 * L
      for (let t = 0; t <= runtime; t += 5_000) {
        expect((await warm()).providers.orders!.status).not.toBe('failed')
        clock.advance(5_000)
      }
      expect(source.calls).toBeLessThanOrEqual(runtime / (0.75 * L) + 1)
      expect(source.calls).toBeGreaterThan(1)
    })

    it('should skip keys nobody used within onlyIfUsedWithinMs', async () => {
      const { clock, source, make, instance } = fleet()
      const { warm } = createWarmer({
        providers: { orders: make() },
        intervalMs: 5_000,
        onlyIfUsedWithinMs: 600_000,
        now: clock.now,
      })
      expect((await warm()).providers.orders).toMatchObject({ status: 'skipped', reason: 'unused' })
      expect(source.calls).toBe(0)
      await instance().getToken()
      await new Promise((r) => setImmediate(r))
      expect((await warm()).providers.orders).toMatchObject({ status: 'fresh' })
    })

    it('should warm at most `concurrency` providers at once', async () => {
      const clock = fakeClock()
      let running = 0
      let most = 0
      const providers = Object.fromEntries(
        Array.from({ length: 6 }, (_, i) => {
          const source = fakeSource(clock.now, { id: `s${i}`, lifetimeMs: L })
          const p = createTokenProvider({
            source,
            store: memoryStore({ now: clock.now }),
            encryption: false,
            now: clock.now,
          })
          const ensureFresh = p.ensureFresh!.bind(p)
          p.ensureFresh = async (o) => {
            most = Math.max(most, ++running)
            await new Promise((r) => setTimeout(r, 5))
            return ensureFresh(o).finally(() => running--)
          }
          return [`p${i}`, p]
        }),
      )
      const report = await createWarmer({
        providers,
        intervalMs: 5_000,
        concurrency: 2,
        now: clock.now,
      }).warm()
      expect(Object.values(report.providers).map((r) => r.status)).toEqual(Array(6).fill('refreshed'))
      expect(most).toBe(2)
    })

    it('should stop at the deadline: the provider in flight fails with WarmError, the rest are skipped', async () => {
      const { clock, source, make } = fleet()
      source.gate = new Promise(() => {})
      const { warm } = createWarmer({
        providers: { a: make(), b: make() },
        intervalMs: 5_000,
        concurrency: 1,
        now: clock.now,
        logger: false,
      })
      const report = await warm({ remainingTimeMs: 550 })
      expect(report.providers.a).toMatchObject({ status: 'failed' })
      const a = report.providers.a as unknown as { error: WarmError }
      expect(a.error).toBeInstanceOf(WarmError)
      expect(a.error.reason).toBe('deadline')
      expect(report.providers.b).toMatchObject({ status: 'skipped', reason: 'deadline' })
    })
  })

  describe('handler', () => {
    it("should use the context's remaining time and resolve each provider's status", async () => {
      const { clock, make } = fleet()
      const { handler } = createWarmer({ providers: { orders: make() }, intervalMs: 5_000, now: clock.now })
      const res = await handler({ source: 'aws.scheduler' }, { getRemainingTimeInMillis: () => 10_000 })
      expect(res).toEqual({ orders: 'refreshed' })
    })

    it('should reject with WarmError naming the failed providers, after logging why', async () => {
      const { clock, source, make } = fleet()
      const warnings: string[] = []
      const { handler } = createWarmer({
        providers: { orders: make() },
        intervalMs: 5_000,
        now: clock.now,
        logger: { warn: (m) => warnings.push(m) },
      })
      source.failWith.push(Object.assign(new ConfigError('bad client'), {}))
      await expect(handler({}, { getRemainingTimeInMillis: () => 10_000 })).rejects.toMatchObject({
        name: 'WarmError',
        reason: 'round-failed',
        providerNames: ['orders'],
      })
      expect(warnings).toEqual([expect.stringContaining('orders')])
    })
  })
})
