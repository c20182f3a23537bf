import type { TokenStore } from '@tokenstash/core'

/** Store calls of one container: reads (`get`, a Scan) and writes (everything that changes the store). */
export interface StoreCounters {
  reads: number
  writes: number
}

/**
 * `store`, counting its calls into `counters`: `get` is a read; `set`, `delete`, `acquireLease`
 * and `releaseLease` are writes (each is one conditional write in DynamoDB and Redis).
 *
 * @example
 * ```ts
 * const store = countingStore(dynamoDbStore({ client, tableName }), counters)
 * ```
 */
export function countingStore(store: TokenStore, counters: StoreCounters): TokenStore {
  return {
    get: (key) => {
      counters.reads++
      return store.get(key)
    },
    set: (key, value, ttlMs) => {
      counters.writes++
      return store.set(key, value, ttlMs)
    },
    delete: (key, expected) => {
      counters.writes++
      return store.delete(key, expected)
    },
    acquireLease: (key, owner, ttlMs) => {
      counters.writes++
      return store.acquireLease(key, owner, ttlMs)
    },
    releaseLease: (key, owner) => {
      counters.writes++
      return store.releaseLease(key, owner)
    },
  }
}
