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
  const counted = <T>(kind: keyof StoreCounters, call: () => T): T => {
    counters[kind]++
    return call()
  }
  return {
    get: (key) => counted('reads', () => store.get(key)),
    set: (key, value, ttlMs) => counted('writes', () => store.set(key, value, ttlMs)),
    delete: (key, expected) => counted('writes', () => store.delete(key, expected)),
    acquireLease: (key, owner, ttlMs) => counted('writes', () => store.acquireLease(key, owner, ttlMs)),
    releaseLease: (key, owner) => counted('writes', () => store.releaseLease(key, owner)),
  }
}
