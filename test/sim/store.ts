import { memoryStore, type TokenStore } from '@tokenstash/core'
import { int, type Rng } from '../support/prng'
import type { SimClock } from './clock'

// The shared store of the simulation: one memoryStore behind a fault injector. Each provider gets
// its own view (its own "client"), so a fault can hit one instance's call. Every call takes a seeded
// latency on the virtual clock (a ref'd timer: a pending socket keeps a process alive too).

/** The calls a store answers; `renewLease` only when the store under test has it. */
export type StoreMethod = Exclude<keyof TokenStore, 'renewLease'> | 'renewLease'

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
  /** The provider's storeTimeoutMs: an answer later than this is one the client gave up on. */
  timeoutMs: number
  /** A lease was granted (acquire) or extended (renew) in the store, as it lands there. */
  onGrant?(grant: Grant): void
  /** An acquireLease of `inst` was refused as it landed: `holder` held the lease then. */
  onRefused?(inst: number, holder: Grant | undefined): void
  /** A token entry (not a lease, cooldown or marker) was written by `inst`, as it landed. */
  onTokenWrite?(inst: number, key: string): void
}

/** A lease as the store holds it: whose, since when, until when. */
export interface Grant {
  id: number
  key: string
  inst: number
  owner: string
  grantedAt: number
  expiresAt: number
  /** The acquire landed after the client had stopped waiting for it (storeTimeoutMs, its signal). */
  late: boolean
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
  /** How late it answers (and lands): HANG_MS by default; 1-3 s is "just after storeTimeoutMs". */
  ms?: number
  /** The store ignores the call's abort signal (a command already on the wire lands anyway). */
  ignoresAbort?: boolean
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
  /** Live leases by lease key, as the store holds them (checked against expiry when read). */
  readonly leases = new Map<string, Grant>()
  #grants = 0
  /** Per instance, until when its client is still connecting: calls wait for it, then succeed. */
  readonly connecting = new Map<number, number>()

  readonly #deleteLatency: readonly [number, number]

  constructor(
    readonly world: StoreWorld,
    latencyMs: readonly [number, number],
    /** Deletes may be slower than reads (then a read sent after a delete can answer before it lands). */
    deleteLatencyMs: readonly [number, number] = latencyMs,
  ) {
    this.#latency = latencyMs
    this.#deleteLatency = deleteLatencyMs
    this.#inner = memoryStore({ now: () => world.clock.now() })
  }

  /** The store restarts empty: tokens, leases and cooldowns are lost. */
  restart(): void {
    this.#inner = memoryStore({ now: () => this.world.clock.now() })
    this.leases.clear()
    this.world.trace('store:restart')
  }

  /** What instance `inst` sees: the shared store through its own faulty connection. */
  view(inst: number): TokenStore {
    // One forwarder for every method; the view's type is the store's.
    const call =
      (method: StoreMethod) =>
      (...args: unknown[]) =>
        this.#call(inst, method, args)
    const view = {
      get: call('get'),
      set: call('set'),
      delete: call('delete'),
      acquireLease: call('acquireLease'),
      releaseLease: call('releaseLease'),
    } as unknown as TokenStore
    // Only a store that has renewLease offers it (the provider then takes short leases).
    if ('renewLease' in this.#inner) Object.assign(view, { renewLease: call('renewLease') })
    return view
  }

  /** The live lease on `key`, if any. */
  lease(key: string): Grant | undefined {
    const g = this.leases.get(key)
    return g && g.expiresAt > this.world.clock.now() ? g : undefined
  }

  #fault(
    inst: number,
    method: StoreMethod,
  ): { kind: OutageKind; ms?: number; ignoresAbort?: boolean } | undefined {
    if (this.healthy) return undefined
    for (const [i, h] of this.hangs.entries()) {
      if (h.inst !== inst || (h.method !== undefined && h.method !== method)) continue
      if (h.afterLease && !this.#leased.has(inst)) continue
      if (--h.nth === 0) {
        this.hangs.splice(i, 1)
        return { kind: 'hang', ms: h.ms, ignoresAbort: h.ignoresAbort }
      }
    }
    const now = this.world.clock.now()
    const kind = this.outages.find((o) => o.from <= now && now < o.to)?.kind
    return kind && { kind }
  }

  /** What the store does as a call lands: the inner store's answer, and the leases and writes it tells about. */
  async #land(inst: number, method: StoreMethod, args: unknown[], gaveUp: boolean): Promise<unknown> {
    const fn = (this.#inner as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[method]!
    const key = args[0] as string
    const now = this.world.clock.now()
    const value = await fn.apply(this.#inner, args)
    if (method === 'acquireLease') {
      if (value === true) {
        this.#leased.add(inst)
        const grant: Grant = {
          id: ++this.#grants,
          key,
          inst,
          owner: args[1] as string,
          grantedAt: now,
          expiresAt: now + (args[2] as number),
          late: gaveUp,
        }
        this.leases.set(key, grant)
        this.world.onGrant?.(grant)
      } else this.world.onRefused?.(inst, this.lease(key))
    } else if (method === 'renewLease' && value === true) {
      const g = this.leases.get(key)
      if (g) {
        g.expiresAt = now + (args[2] as number)
        this.world.onGrant?.(g)
      }
    } else if (method === 'releaseLease') {
      this.#leased.delete(inst)
      if (this.leases.get(key)?.owner === args[1]) this.leases.delete(key)
    } else if (method === 'set' && !key.includes('#')) this.world.onTokenWrite?.(inst, key)
    else if (method === 'delete' && key.endsWith('#lease')) this.leases.delete(key)
    return value
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
      args = [crossed, ...args.slice(1)]
    }
    const fault = this.#fault(inst, method)
    if (fault) this.world.trace(`i${inst}:store-${method}:${fault.kind}${fault.ms ? `:${fault.ms}ms` : ''}`)
    const [lo, hi] =
      fault?.kind === 'slow' ? SLOW_MS : method === 'delete' ? this.#deleteLatency : this.#latency
    // A client still connecting holds the call until it is connected, then sends it.
    const connected = Math.max(0, (this.connecting.get(inst) ?? 0) - this.world.clock.now())
    const ms = connected + (fault?.kind === 'hang' ? (fault.ms ?? HANG_MS) : int(this.world.rng, lo, hi))
    const signal = (
      args.find((a) => typeof a === 'object' && a !== null && 'signal' in a) as
        | { signal?: AbortSignal }
        | undefined
    )?.signal
    // A store that ignores the signal (or a call already on the wire) lands whatever the client does.
    if (fault?.ignoresAbort)
      args = args.map((a) => (typeof a === 'object' && a !== null && 'signal' in a ? {} : a))
    return new Promise((resolve, reject) => {
      let gaveUp = false
      // The client's side: it stops waiting when its signal aborts; the store's side goes on.
      const onAbort = () => {
        gaveUp = true
        reject(signal?.reason)
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      setTimeout(() => {
        signal?.removeEventListener('abort', onAbort)
        if (fault?.kind === 'error') {
          reject(Object.assign(new Error('connect ECONNREFUSED 10.0.0.7:6379'), { code: 'ECONNREFUSED' }))
          return
        }
        // A hung call still lands in the end, late (a write that arrives after everything else).
        this.#land(inst, method, args, gaveUp || ms > this.world.timeoutMs).then(resolve, reject)
      }, ms)
    })
  }
}
