import type { LRUCache } from 'lru-cache'
import type { StoreCallOptions, TokenStore } from '../types'
import { optionalNumber } from '../validate'

export interface MemoryStoreOptions {
  /** Most entries kept (tokens, leases and cooldowns); the least recently used go first. Default 1000. */
  max?: number
  /** Clock, for tests. Default `Date.now`. */
  now?: () => number
}

interface Slot {
  value: string
  expiresAt: number
}

/**
 * A bounded in-process {@link TokenStore} (lru-cache). Use it to share one token between providers
 * in one process, or as the store in tests. It is not shared between Lambda containers: use the
 * DynamoDB or Redis store for that.
 *
 * @example
 * ```ts
 * const store = memoryStore({ max: 100 })
 * const provider = createTokenProvider({ source, store, encryption: false })
 * ```
 */
export function memoryStore(options: MemoryStoreOptions = {}): TokenStore {
  const max = optionalNumber('max', options.max, 1000, { min: 1, integer: true })
  const now = options.now ?? Date.now
  // Expiry is checked against the injected clock on every read, so fake time works and a
  // value is never returned past its ttl even before lru-cache purges it. lru-cache is loaded on
  // the first call, not at import: it is most of this package's load time, and cold starts count.
  let loading: Promise<LRUCache<string, Slot>> | undefined
  let cache!: LRUCache<string, Slot>
  const ready = () => {
    loading ??= import('lru-cache').then(({ LRUCache }) => {
      cache = new LRUCache<string, Slot>({ max })
      return cache
    })
    return loading
  }

  const live = (key: string): Slot | undefined => {
    const slot = cache.get(key)
    if (slot && slot.expiresAt <= now()) {
      cache.delete(key)
      return undefined
    }
    return slot
  }

  // A call whose signal aborted while it waited for lru-cache to load does nothing: the caller
  // gave up on it, and a lease or a value landing after that is what the signal exists to prevent.
  const start = async (options?: StoreCallOptions) => {
    options?.signal?.throwIfAborted()
    await ready()
    options?.signal?.throwIfAborted()
  }

  return {
    async get(key, options) {
      await start(options)
      return live(key)?.value
    },
    async set(key, value, ttlMs, options) {
      await start(options)
      if (!(ttlMs > 0)) {
        cache.delete(key)
        return
      }
      cache.set(key, { value, expiresAt: now() + ttlMs })
    },
    async delete(key, expected, options) {
      await start(options)
      if (expected === undefined || live(key)?.value === expected) cache.delete(key)
    },
    async acquireLease(key, owner, ttlMs, options) {
      await start(options)
      if (live(key)) return false
      cache.set(key, { value: owner, expiresAt: now() + ttlMs })
      return true
    },
    async releaseLease(key, owner, options) {
      await start(options)
      if (live(key)?.value === owner) cache.delete(key)
    },
    async renewLease(key, owner, ttlMs, options) {
      await start(options)
      const slot = live(key)
      if (slot?.value !== owner) return false
      slot.expiresAt = now() + ttlMs
      return true
    },
  }
}
