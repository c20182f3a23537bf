import { randomBytes } from 'node:crypto'
import {
  ConfigError,
  createTokenProvider,
  memoryStore,
  type SourceEvent,
  StoreEntryUnreadableError,
  type TokenProviderOptions,
} from '@tokenstash/core'
import { EventLogger, type Logger } from '../src/logger'
import { clockedProvider, fakeClock, fakeSource, key32 } from './helpers'
import { breakableStore, sharedStore } from './stores'

const MINUTE = 60_000

/** A logger that keeps its lines, by level. */
function lines() {
  const seen: { level: string; text: string }[] = []
  const at = (level: string) => (text: string) => {
    seen.push({ level, text })
  }
  const logger = { warn: at('warn'), error: at('error'), info: at('info'), debug: at('debug') }
  return { seen, logger, texts: () => seen.map((l) => `${l.level}: ${l.text}`) }
}

/** A provider on `clock` over a fake source whose shared store refuses every call, logging to `logger`. */
function onRefusingStore(clock: ReturnType<typeof fakeClock>, logger: TokenProviderOptions['logger']) {
  const { store, state } = breakableStore(memoryStore({ now: clock.now }))
  state.mode = 'throw'
  return createTokenProvider({
    source: fakeSource(clock.now),
    store,
    encryptionKey: key32(),
    now: clock.now,
    logger,
  })
}

describe('logger', () => {
  it('should print at most two lines for a 50-call store outage: its start and its recovery', async () => {
    const clock = fakeClock()
    const { store, state } = breakableStore(memoryStore({ now: clock.now }))
    const log = lines()
    const { source, p } = clockedProvider(
      // One fake clock for the whole test: 60 s tokens are shared through the store only when no
      // clock skew has to be allowed for (below 160 s they are not, with the default tolerance).
      { store, encryptionKey: key32(), logger: log.logger, clockSkewToleranceMs: 0 },
      { lifetimeMs: MINUTE },
      clock,
    )
    state.mode = 'throw'
    const served: string[] = []
    for (let i = 0; i < 50; i++) {
      served.push(await p.getToken())
      clock.advance(MINUTE) // each call finds its token expired and tries the store again
    }
    expect(source.calls).toBe(50)
    expect(log.seen).toHaveLength(1)
    expect(log.seen[0]).toMatchObject({ level: 'warn' })
    expect(log.seen[0]!.text).toMatch(
      /^tokenstash: the shared store is failing \(.*ECONNREFUSED.*\); serving from memory/,
    )
    expect(log.seen[0]!.text).toContain(`[key ${p.key}]`)
    state.mode = 'ok'
    for (let i = 0; i < 5; i++) {
      await p.getToken()
      clock.advance(MINUTE)
    }
    expect(log.texts()).toEqual([
      expect.stringContaining('warn: tokenstash: the shared store is failing'),
      expect.stringContaining('info: tokenstash: the shared store answers again'),
    ])
    for (const line of log.seen) for (const token of served) expect(line.text).not.toContain(token)
  })

  it("should report an entry the store cannot interpret as store-unreadable, once, with the store's reason, and not as a failing store", async () => {
    const clock = fakeClock()
    const inner = memoryStore({ now: clock.now })
    const why = "DynamoDB get on table tokens: the item's `expiresAtMs` (object) does not read as a number"
    const store = {
      ...inner,
      get: async () => {
        throw new StoreEntryUnreadableError(why, { operation: 'get' })
      },
    }
    const log = lines()
    const options = { store, encryptionKey: key32(), logger: log.logger, clockSkewToleranceMs: 0 }
    const { source, ev, p } = clockedProvider(options, { lifetimeMs: MINUTE }, clock)
    const seen = ev.seen
    for (let i = 0; i < 3; i++) {
      await p.getToken()
      clock.advance(MINUTE)
    }
    expect(source.calls).toBe(3)
    expect(p.stats().storeErrors).toBe(0)
    expect(seen.filter((e) => e.type === 'store-error')).toEqual([])
    const unreadable = seen.filter((e) => e.type === 'store-unreadable')
    expect(unreadable.length).toBeGreaterThanOrEqual(3)
    expect(unreadable[0]).toMatchObject({ reason: 'corrupt', message: expect.stringContaining(why) })
    expect(log.texts()).toEqual([
      expect.stringMatching(
        /^warn: tokenstash: an entry in the shared store is corrupt .*does not read as a number.*; it counts as a miss/,
      ),
    ])
  })

  it('should warn once that tokens too short to share under the skew tolerance cost a request per instance', async () => {
    const clock = fakeClock()
    const log = lines()
    const options = { store: memoryStore({ now: clock.now }), encryptionKey: key32(), logger: log.logger }
    const { source, p } = clockedProvider(options, { lifetimeMs: MINUTE }, clock)
    for (let i = 0; i < 3; i++) {
      await p.getToken()
      clock.advance(MINUTE)
    }
    expect(source.calls).toBe(3)
    expect(log.texts()).toEqual([
      expect.stringMatching(
        /^warn: tokenstash: Tokens of .* live 60 s: too short to share .*This costs a token request per instance per lifetime; .*lower clockSkewToleranceMs/,
      ),
    ])
  })

  it('should write to console.warn by default and nothing with logger: false', async () => {
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => {})
    try {
      const clock = fakeClock()
      for (const logger of [undefined, false] as const) await onRefusingStore(clock, logger).getToken()
      expect(warn).toHaveBeenCalledTimes(1)
      expect(warn.mock.calls[0]).toEqual([expect.stringContaining('the shared store is failing')])
    } finally {
      warn.mockRestore()
    }
  })

  it('should call pino-style and Powertools-style loggers with one string, on the logger itself', async () => {
    // pino: warn(obj, msg) or warn(msg); Powertools: warn(msg, ...extra). One string fits both.
    class PinoLike {
      readonly out: unknown[][] = []
      warn(objOrMsg: unknown, msg?: string) {
        this.out.push(msg === undefined ? [objOrMsg] : [objOrMsg, msg])
      }
      error() {}
      info() {}
      debug() {}
    }
    class PowertoolsLike {
      readonly out: unknown[][] = []
      warn(input: string, ...extra: unknown[]) {
        this.out.push([input, ...extra])
      }
      error() {}
      info() {}
      debug() {}
    }
    const clock = fakeClock()
    for (const logger of [new PinoLike(), new PowertoolsLike()]) {
      await onRefusingStore(clock, logger).getToken()
      expect(logger.out).toEqual([[expect.stringContaining('the shared store is failing')]])
    }
  })

  it('should ask for a lazily given key only when it writes a line that names it', () => {
    const { logger, seen } = lines()
    let asked = 0
    const log = new EventLogger(logger, () => {
      asked++
      return 'ns:lazy'
    })
    log.handle({ type: 'fetch' })
    log.handle({ type: 'hit-memory' })
    expect([asked, seen]).toEqual([0, []])
    log.handle({ type: 'store-error', message: 'down' })
    expect(seen).toHaveLength(1)
    expect(seen[0]!.text).toContain('[key ns:lazy]')
    expect(asked).toBe(1)
    // An event's own key wins, and the lazy one is not asked for.
    log.handle({ type: 'store-recovered' })
    log.handle({ type: 'store-error', key: 'ns:event', message: 'down again' })
    expect(seen.at(-1)!.text).toContain('[key ns:event]')
  })

  it('should refuse a logger without a warn method', () => {
    const source = fakeSource(Date.now)
    for (const logger of [true, {}, { warn: 'x' }, { warn() {}, info: 1 }])
      expect(() => createTokenProvider({ source, logger: logger as unknown as Logger })).toThrow(ConfigError)
  })

  it('should never let a throwing logger break token serving', async () => {
    const logger = {
      warn() {
        throw new Error('broken logger')
      },
    }
    const p = onRefusingStore(fakeClock(), logger)
    await expect(p.getToken()).resolves.toBe('tok-1-fake')
  })

  it('should warn once about an auth-method fallback the source reports', async () => {
    const listeners: ((e: SourceEvent) => void)[] = []
    const source = {
      ...fakeSource(Date.now),
      subscribe: (l: (e: SourceEvent) => void) => {
        listeners.push(l)
        return () => {}
      },
    }
    const log = lines()
    createTokenProvider({ source, logger: log.logger })
    for (let i = 0; i < 3; i++)
      for (const l of listeners)
        l({
          type: 'auth-method-fallback',
          authMethod: 'client_secret_basic',
          message: 'using client_secret_basic',
        })
    expect(log.texts()).toEqual([expect.stringContaining('warn: tokenstash: using client_secret_basic')])
  })

  it('should say once, as an error, that a token was rejected twice in a row', async () => {
    const clock = fakeClock()
    const log = lines()
    const p = createTokenProvider({ source: fakeSource(clock.now), now: clock.now, logger: log.logger })
    await p.invalidate(await p.getToken())
    await expect(p.invalidate(await p.getToken())).rejects.toMatchObject({ code: 'ERR_TOKEN_REJECTED' })
    await expect(p.getToken()).rejects.toMatchObject({ code: 'ERR_TOKEN_REJECTED' })
    expect(log.texts()).toEqual([
      expect.stringMatching(/^error: tokenstash: a token was rejected twice in a row/),
    ])
  })
})

describe('store-unreadable', () => {
  it('should report entries sealed with another encryptionKey, and warn once naming the likely cause', async () => {
    const { clock, store } = sharedStore()
    const log = lines()
    const {
      source,
      ev,
      p: b,
    } = clockedProvider({ store, encryptionKey: key32(), logger: log.logger }, {}, clock)
    const a = createTokenProvider({ source, store, encryptionKey: key32(), now: clock.now, logger: false })
    await a.getToken()
    await b.getToken()
    expect(source.calls).toBe(2) // b could not read a's token: a miss, and a token request
    expect(ev.seen).toContainEqual(
      expect.objectContaining({ type: 'store-unreadable', reason: 'wrong-key', key: b.key }),
    )
    await b.invalidate()
    await a.invalidate()
    await a.getToken()
    await b.getToken()
    const warnings = log.seen.filter((l) => l.level === 'warn')
    expect(warnings).toHaveLength(1)
    expect(warnings[0]!.text).toContain("the fleet's encryption keys differ, or a key rotation is half-done")
  })

  it('should read entries of a rotation in progress (old key listed after the new one) without a report', async () => {
    const { clock, store, encryptionKey: oldKey } = sharedStore()
    const newKey = key32()
    const { source, ev, p: b } = clockedProvider({ store, encryptionKey: [newKey, oldKey] }, {}, clock)
    const a = createTokenProvider({ source, store, encryptionKey: oldKey, now: clock.now, logger: false })
    await a.getToken()
    await b.getToken()
    expect(source.calls).toBe(1)
    expect(ev.types()).not.toContain('store-unreadable')
  })

  it('should tell a corrupt entry, one of another cache key and a clear one apart', async () => {
    const { clock, store, shared } = sharedStore()
    const { ev, p } = clockedProvider({ ...shared, logger: false }, {}, clock)
    const other = createTokenProvider({
      source: fakeSource(clock.now, { id: 'other' }),
      ...shared,
      logger: false,
    })
    const clear = createTokenProvider({
      source: fakeSource(clock.now),
      store,
      encryption: false,
      now: clock.now,
      logger: false,
    })
    const reasons = async (raw: string | undefined) => {
      ev.seen.length = 0
      if (raw !== undefined) await store.set(p.key, raw, MINUTE)
      await p.invalidate() // forget the token in memory; the store entry is set again below
      if (raw !== undefined) await store.set(p.key, raw, MINUTE)
      await p.getToken()
      return [...new Set(ev.seen.filter((e) => e.type === 'store-unreadable').map((e) => e.reason))]
    }
    await p.getToken()
    const sealed = (await store.get(p.key))!
    await other.getToken()
    const otherEntry = await store.get(other.key)
    await clear.getToken() // same cache key as p, in clear
    const clearEntry = await store.get(clear.key)
    const parts = sealed.split('.')
    parts[3] = randomBytes(parts[3]!.length).toString('base64url').slice(0, parts[3]!.length)
    expect(await reasons(otherEntry)).toEqual(['other-key'])
    expect(await reasons(clearEntry)).toEqual(['wrong-key'])
    expect(await reasons('not an entry')).toEqual(['corrupt'])
    expect(await reasons(parts.join('.'))).toEqual(['corrupt'])
  })
})

describe('EventLogger', () => {
  it('should warn once per fail-open episode, and not during a store outage already reported', () => {
    const log = lines()
    const e = new EventLogger(log.logger, 'default:k')
    for (let i = 0; i < 5; i++) e.handle({ type: 'fail-open', reason: 'lease-wait-timeout' })
    e.handle({ type: 'store-error', message: 'Store get failed: Error: ECONNREFUSED' })
    for (let i = 0; i < 5; i++) e.handle({ type: 'fail-open', reason: 'store-down' })
    e.handle({ type: 'store-recovered' })
    e.handle({ type: 'fail-open', reason: 'store-down' })
    e.handle({ type: 'hit-store' })
    e.handle({ type: 'fail-open', reason: 'lease-wait-timeout' })
    expect(log.texts()).toEqual([
      expect.stringContaining(
        "warn: tokenstash: fetched a token without the fleet's coordination: the instance holding the lease",
      ),
      expect.stringContaining('warn: tokenstash: the shared store is failing'),
      expect.stringContaining('info: tokenstash: the shared store answers again'),
      expect.stringContaining(
        "warn: tokenstash: fetched a token without the fleet's coordination (store-down)",
      ),
      expect.stringContaining('the instance holding the lease'),
    ])
  })

  it('should warn once when less than 10% of a quota remains, again after it reset', () => {
    const log = lines()
    const e = new EventLogger(log.logger, 'default:k')
    const quota = (remaining: number) =>
      e.handle({ type: 'quota', limit: 100, remaining, window: 'per_hour', resetAt: 0 })
    for (const r of [50, 11, 10, 9, 8, 2, 0, 100, 5, 3]) quota(r)
    expect(log.texts()).toEqual([
      "warn: tokenstash: the identity provider's token quota is nearly used up: 9 of 100 token requests left (per_hour) (resets 1970-01-01T00:00:00.000Z) [key default:k]",
      expect.stringContaining('5 of 100 token requests left'),
    ])
  })

  it('should fall back to warn for a logger without error or info, and drop debug', () => {
    const warned: string[] = []
    const e = new EventLogger({ warn: (t: string) => warned.push(t) }, 'k')
    e.handle({ type: 'store-error', message: 'x' })
    e.handle({ type: 'store-recovered' })
    e.handle({ type: 'error', code: 'ERR_TOKEN_REJECTED' })
    expect(warned).toHaveLength(3)
  })
})
