import { memoryStore, type TokenStore } from '@tokenstash/core'
import { int, type Rng } from '../support/prng'
import type { SimClock } from './clock'

// The shared store of the simulation: one memoryStore behind a fault injector. Each provider gets
// its own view (its own "client"), so a fault can hit one instance's call. Every call takes a seeded
// latency on the virtual clock (a ref'd timer: a pending socket keeps a process alive too).

export type StoreMethod = Exclude<keyof TokenStore, 'renewLease'>

/** A hung call answers this late (a socket timeout), long after the provider's storeTimeoutMs. */
export const HANG_MS = 30_000
/** During a slow window, calls answer in this range: around the provider's default storeTimeoutMs (1 s). */
export const SLOW_MS = [500, 1_500] as const

/** What an outage window does to every call: fail, hang, or answer around the store timeout. */
export type OutageKind = 'error' | 'hang' | 'slow'

export interface StoreWorld {
  clock: SimClock
  rng: Rng
  trace(event: string): void
}

export interface ArmedHang {
  /** The instance whose call hangs. */
  inst: number
  /** Only calls of this method count, when given. */
  method?: StoreMethod
  /** The nth matching call from now on hangs (1 = the next one). */
  nth: number
  /** Only calls made while the instance holds the lease count (the winner's double-check, write, release). */
  afterLease?: boolean
}

export class FaultyStore {
  #inner: TokenStore
  #latency: readonly [number, number]
  /** Windows [from, to) during which every call fails, hangs, or is slow. */
  readonly outages: { from: number; to: number; kind: OutageKind }[] = []
  readonly hangs: ArmedHang[] = []
  /** Windows during which a read of a token answers another key's entry (a wrong prefix, a swapped item). */
  readonly crossed: { from: number; to: number }[] = []
  healthy = false
  /** Token keys written so far (derived keys hold a '#'). */
  readonly #tokenKeys = new Set<string>()
  /** Instances whose last acquireLease was granted and not released yet. */
  readonly #leased = new Set<number>()

  constructor(
    readonly world: StoreWorld,
    latencyMs: readonly [number, number],
  ) {
    this.#latency = latencyMs
    this.#inner = memoryStore({ now: () => world.clock.now() })
  }

  /** The store restarts empty: tokens, leases and cooldowns are lost. */
  restart(): void {
    this.#inner = memoryStore({ now: () => this.world.clock.now() })
    this.world.trace('store:restart')
  }

  /** What instance `inst` sees: the shared store through its own faulty connection. */
  view(inst: number): TokenStore {
    const call =
      <M extends StoreMethod>(method: M) =>
      (...args: Parameters<TokenStore[M]>): ReturnType<TokenStore[M]> =>
        this.#call(inst, method, args) as ReturnType<TokenStore[M]>
    return {
      get: call('get'),
      set: call('set'),
      delete: call('delete'),
      acquireLease: call('acquireLease'),
      releaseLease: call('releaseLease'),
    }
  }

  #fault(inst: number, method: StoreMethod): OutageKind | undefined {
    if (this.healthy) return undefined
    for (const [i, h] of this.hangs.entries()) {
      if (h.inst !== inst || (h.method !== undefined && h.method !== method)) continue
      if (h.afterLease && !this.#leased.has(inst)) continue
      if (--h.nth === 0) {
        this.hangs.splice(i, 1)
        return 'hang'
      }
    }
    const now = this.world.clock.now()
    return this.outages.find((o) => o.from <= now && now < o.to)?.kind
  }

  /** During a crossed window, the key whose entry a read of `key` answers instead. */
  #crossedKey(method: StoreMethod, key: string): string | undefined {
    const now = this.world.clock.now()
    if (this.healthy || method !== 'get' || !this.crossed.some((c) => c.from <= now && now < c.to))
      return undefined
    for (const other of this.#tokenKeys) if (other !== key) return other
    return undefined
  }

  #call(inst: number, method: StoreMethod, args: unknown[]): Promise<unknown> {
    const key = args[0] as string
    if (method === 'set' && !key.includes('#')) this.#tokenKeys.add(key)
    const crossed = this.#crossedKey(method, key)
    if (crossed) {
      this.world.trace(`i${inst}:store-get:crossed`)
      args = [crossed]
    }
    const fault = this.#fault(inst, method)
    if (fault) this.world.trace(`i${inst}:store-${method}:${fault}`)
    const [lo, hi] = fault === 'slow' ? SLOW_MS : this.#latency
    const ms = fault === 'hang' ? HANG_MS : int(this.world.rng, lo, hi)
    return new Promise((resolve, reject) =>
      setTimeout(() => {
        if (fault === 'error') {
          reject(Object.assign(new Error('connect ECONNREFUSED 10.0.0.7:6379'), { code: 'ECONNREFUSED' }))
          return
        }
        // A hung call still lands in the end, late (a write that arrives after everything else).
        const fn = this.#inner[method] as (...a: unknown[]) => Promise<unknown>
        fn.apply(this.#inner, args).then((value) => {
          if (method === 'acquireLease' && value === true) this.#leased.add(inst)
          if (method === 'releaseLease') this.#leased.delete(inst)
          resolve(value)
        }, reject)
      }, ms),
    )
  }
}
