import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { createTokenProvider, EVENT_CHANNEL, type SourceEvent, type TokenEvent } from '@tokenstash/core'
import { events, fakeClock, fakeSource } from './helpers'

describe('EVENT_CHANNEL', () => {
  const published: TokenEvent[] = []
  const listener = (message: unknown) => published.push(message as TokenEvent)

  afterEach(() => {
    unsubscribe(EVENT_CHANNEL, listener)
    published.length = 0
  })

  it('should publish every event of every provider, without onEvent, under its key', async () => {
    subscribe(EVENT_CHANNEL, listener)
    const clock = fakeClock()
    const source = fakeSource(clock.now)
    source.failWith.push(Object.assign(new Error('boom'), { name: 'TypeError' }))
    const a = createTokenProvider({ source, now: clock.now, retry: { retries: 0 } })
    const b = createTokenProvider({ source: fakeSource(clock.now, { id: 'other' }), now: clock.now })
    await expect(a.getToken()).rejects.toThrow('boom')
    await a.getToken()
    await a.getToken()
    await b.getToken()
    await a.invalidate()
    expect(published.map((e) => [e.key === a.key ? 'a' : e.key === b.key ? 'b' : e.key, e.type])).toEqual([
      ['a', 'fetch-error'],
      ['a', 'error'],
      ['a', 'fetch'],
      ['a', 'hit-memory'],
      ['b', 'fetch'],
      ['a', 'invalidate'],
    ])
    expect(JSON.stringify(published)).not.toContain('tok-')
  })

  it('should give onEvent and the channel the same events, each its own copy', async () => {
    subscribe(EVENT_CHANNEL, listener)
    const clock = fakeClock()
    const seen = events()
    const p = createTokenProvider({
      source: fakeSource(clock.now),
      now: clock.now,
      onEvent: (e) => {
        seen.onEvent({ ...e })
        ;(e as { type: string }).type = 'edited by the hook'
      },
    })
    await p.getToken()
    await p.getToken()
    expect(published).toEqual(seen.seen)
    expect(published.map((e) => e.type)).toEqual(['fetch', 'hit-memory'])
  })

  it("should relay the source's events to the channel when it had a subscriber at the provider's creation", () => {
    const clock = fakeClock()
    const listeners: Array<(e: SourceEvent) => void> = []
    const source = Object.assign(fakeSource(clock.now), {
      subscribe(l: (e: SourceEvent) => void) {
        listeners.push(l)
        return () => {}
      },
    })
    // Nothing to listen for: no hook, no subscriber, no logger (a logger warns about fallbacks).
    createTokenProvider({ source, now: clock.now, logger: false })
    expect(listeners).toHaveLength(0)
    subscribe(EVENT_CHANNEL, listener)
    const p = createTokenProvider({ source, now: clock.now, logger: false })
    expect(listeners).toHaveLength(1)
    listeners[0]?.({ type: 'auth-method-fallback', authMethod: 'client_secret_basic', message: 'm' })
    expect(published).toEqual([
      { key: p.key, type: 'auth-method-fallback', authMethod: 'client_secret_basic', message: 'm' },
    ])
  })
})
