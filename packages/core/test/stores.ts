// Stores for provider tests: a memory store shared by a fleet, and wrappers that break, slow down
// or record the calls of another store.
import { memoryStore, type TokenStore } from '@tokenstash/core'
import { fakeClock, key32 } from './helpers'

/** The store key of the fleet's lease on fetching the token under `key`. */
export const leaseKey = (key: string) => `${key}#lease`

/**
 * A fresh fake clock and a memory store on it with one encryption key; `shared` is what each
 * provider sharing them takes (`{ store, encryptionKey, now }`).
 */
export function sharedStore() {
  const clock = fakeClock()
  const store = memoryStore({ now: clock.now })
  const encryptionKey = key32()
  return { clock, store, encryptionKey, shared: { store, encryptionKey, now: clock.now } }
}

/** Wraps a store so every key and value passed to `set` is recorded in `written`. */
export function recordingStore(inner: TokenStore) {
  const written: string[] = []
  const store: TokenStore = {
    ...inner,
    set: (k: string, v: string, t: number) => {
      written.push(k, v)
      return inner.set(k, v, t)
    },
  }
  return { store, written }
}

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
