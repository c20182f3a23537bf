import { randomBytes } from 'node:crypto'
import type { TokenEvent, TokenSet, TokenSource, TokenStore } from '@tokenstash/core'

/** A clock the test moves by hand. */
export function fakeClock(start = 1_700_000_000_000) {
  const clock = {
    t: start,
    now: () => clock.t,
    advance: (ms: number) => {
      clock.t += ms
    },
  }
  return clock
}

export interface FakeSource extends TokenSource {
  calls: number
  /** Make the next fetches fail with these errors, in order. */
  failWith: unknown[]
  /** Hold every fetch until released (for concurrency tests). */
  gate?: Promise<void>
  lifetimeMs: number
}

/** A TokenSource that counts requests and mints `tok-<n>` tokens on the given clock. */
export function fakeSource(
  now: () => number,
  { id = 'fake', lifetimeMs = 3_600_000, delayMs = 0 } = {},
): FakeSource {
  const src: FakeSource = {
    id,
    calls: 0,
    failWith: [],
    lifetimeMs,
    async fetchToken(): Promise<TokenSet> {
      src.calls++
      const n = src.calls
      const issuedAt = now()
      if (src.gate) await src.gate
      if (delayMs) await new Promise((r) => setTimeout(r, delayMs))
      const failure = src.failWith.shift()
      if (failure) throw failure
      return {
        accessToken: `tok-${n}-${id}`,
        tokenType: 'Bearer',
        issuedAt,
        expiresAt: issuedAt + src.lifetimeMs,
      }
    },
  }
  return src
}

export function events() {
  const seen: TokenEvent[] = []
  return { seen, onEvent: (e: TokenEvent) => seen.push(e), types: () => seen.map((e) => e.type) }
}

export const key32 = () => randomBytes(32).toString('base64')

/** Wraps a store so a test can break it (throw or hang) and heal it again. */
export function breakableStore(inner: TokenStore) {
  const state = { mode: 'ok' as 'ok' | 'throw' | 'hang', calls: 0 }
  const wrap =
    <A extends unknown[], R>(fn: (...a: A) => Promise<R>) =>
    (...a: A): Promise<R> => {
      state.calls++
      if (state.mode === 'throw') return Promise.reject(new Error('ECONNREFUSED 127.0.0.1:6379'))
      if (state.mode === 'hang') return new Promise<R>(() => {})
      return fn(...a)
    }
  const store: TokenStore = {
    get: wrap((k: string) => inner.get(k)),
    set: wrap((k: string, v: string, t: number) => inner.set(k, v, t)),
    delete: wrap((k: string, e?: string) => inner.delete(k, e)),
    acquireLease: wrap((k: string, o: string, t: number) => inner.acquireLease(k, o, t)),
    releaseLease: wrap((k: string, o: string) => inner.releaseLease(k, o)),
  }
  return { store, state }
}

export const flush = () => new Promise((r) => setImmediate(r))

type StoreOp = keyof TokenStore

/**
 * Wraps a store so every call takes `latencyMs` (real time), or what `delayOf` says for the n-th
 * call of an operation on a key; records every call.
 */
export function slowStore(
  inner: TokenStore,
  latencyMs: number,
  delayOf: (op: StoreOp, key: string, n: number) => number | undefined = () => undefined,
) {
  const calls: Array<{ op: StoreOp; key: string; args: unknown[] }> = []
  const counts = new Map<string, number>()
  const wrap =
    <A extends [string, ...unknown[]], R>(op: StoreOp, fn: (...a: A) => Promise<R>) =>
    async (...a: A): Promise<R> => {
      const n = (counts.get(`${op} ${a[0]}`) ?? 0) + 1
      counts.set(`${op} ${a[0]}`, n)
      calls.push({ op, key: a[0], args: a.slice(1) })
      const ms = delayOf(op, a[0], n) ?? latencyMs
      if (ms > 0) await new Promise((r) => setTimeout(r, ms))
      return fn(...a)
    }
  const store: TokenStore = {
    get: wrap('get', (k: string) => inner.get(k)),
    set: wrap('set', (k: string, v: string, t: number) => inner.set(k, v, t)),
    delete: wrap('delete', (k: string, e?: string) => inner.delete(k, e)),
    acquireLease: wrap('acquireLease', (k: string, o: string, t: number) => inner.acquireLease(k, o, t)),
    releaseLease: wrap('releaseLease', (k: string, o: string) => inner.releaseLease(k, o)),
  }
  return { store, calls }
}

/** Resolves after `ms` of real time. */
export const pause = (ms: number) => new Promise((r) => setTimeout(r, ms))
