import { randomUUID } from 'node:crypto'
import type { TokenStore } from '../types'

// The suite runs under the user's jest (or vitest with globals); these are its globals, declared
// here so neither the build nor the published types depend on @types/jest.
type Hook = (fn: () => unknown) => void
declare const describe: (name: string, fn: () => void) => void
declare const it: (name: string, fn: () => Promise<void>) => void
declare const beforeAll: Hook
declare const afterAll: Hook
declare const beforeEach: Hook
// biome-ignore lint/suspicious/noExplicitAny: jest's and vitest's expect differ; only toBe/toBeUndefined/toHaveLength/resolves are used
declare const expect: any

/** The options of {@link runStoreContract}. */
export interface StoreContractOptions {
  /** Called after the suite, e.g. to quit a client. */
  teardown?: () => Promise<void> | void
  /**
   * Shortest ttl the store honours with millisecond precision. Default 300 ms. The expiry tests
   * sleep for real (stores expire on their server's clock), so keep it small.
   */
  ttlMs?: number
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * The contract every {@link TokenStore} must keep, as a jest (or vitest with globals) suite.
 * Each test uses its own random keys, so suites can share one server.
 *
 * @example
 * ```ts
 * import { runStoreContract } from '@tokenstash/core/testing'
 * runStoreContract('redisStore', async () => redisStore({ client: new Redis(url) }))
 * ```
 */
export function runStoreContract(
  name: string,
  makeStore: () => TokenStore | Promise<TokenStore>,
  options: StoreContractOptions = {},
): void {
  const ttl = options.ttlMs ?? 300

  describe(`${name} (store contract)`, () => {
    let store: TokenStore
    let key: string

    beforeAll(async () => {
      store = await makeStore()
    })
    afterAll(async () => {
      await options.teardown?.()
    })
    beforeEach(() => {
      // Keys look like a provider's: namespace, hash, and '#'-derived suffixes.
      key = `contract:${randomUUID().replaceAll('-', '')}`
    })

    it('should return undefined for a key never set', async () => {
      expect(await store.get(key)).toBeUndefined()
    })

    it('should return what was set, byte for byte', async () => {
      const value = `eyJ.${'x'.repeat(4000)}.ü✓{}"\n`
      await store.set(key, value, 60_000)
      expect(await store.get(key)).toBe(value)
    })

    it('should overwrite on set', async () => {
      await store.set(key, 'one', 60_000)
      await store.set(key, 'two', 60_000)
      expect(await store.get(key)).toBe('two')
    })

    it('should keep keys apart, derived ones included', async () => {
      await store.set(key, 'token', 60_000)
      await store.set(`${key}#cooldown`, 'cool', 60_000)
      expect(await store.get(key)).toBe('token')
      expect(await store.get(`${key}#cooldown`)).toBe('cool')
      expect(await store.get(`${key}x`)).toBeUndefined()
    })

    it('should forget a value after its ttl', async () => {
      const started = Date.now()
      await store.set(key, 'short', ttl)
      const read = await store.get(key)
      // On a loaded machine the set and the read may outlast the ttl: then the value may
      // rightly be gone already, and only the expiry below is this test's to check.
      if (Date.now() - started < ttl) expect(read).toBe('short')
      await sleep(ttl * 2 + 100)
      expect(await store.get(key)).toBeUndefined()
    })

    it('should delete unconditionally without expected', async () => {
      await store.set(key, 'v', 60_000)
      await store.delete(key)
      expect(await store.get(key)).toBeUndefined()
    })

    it('should delete when the stored value equals expected', async () => {
      await store.set(key, 'v1', 60_000)
      await store.delete(key, 'v1')
      expect(await store.get(key)).toBeUndefined()
    })

    it('should not delete when the stored value differs from expected', async () => {
      await store.set(key, 'v2', 60_000)
      await store.delete(key, 'v1')
      expect(await store.get(key)).toBe('v2')
    })

    it('should not fail deleting a missing key', async () => {
      await expect(store.delete(key)).resolves.toBeUndefined()
      await expect(store.delete(key, 'x')).resolves.toBeUndefined()
    })

    it('should grant a lease to one owner only', async () => {
      const lease = `${key}#lease`
      expect(await store.acquireLease(lease, 'a', 60_000)).toBe(true)
      expect(await store.acquireLease(lease, 'b', 60_000)).toBe(false)
      expect(await store.acquireLease(lease, 'a', 60_000)).toBe(false)
    })

    it('should grant exactly one of many concurrent lease requests', async () => {
      const lease = `${key}#lease`
      const owners = Array.from({ length: 25 }, (_, i) => `owner-${i}`)
      const won = await Promise.all(owners.map((o) => store.acquireLease(lease, o, 60_000)))
      expect(won.filter(Boolean)).toHaveLength(1)
    })

    it('should let a lease expire so a crashed holder never blocks others', async () => {
      const lease = `${key}#lease`
      expect(await store.acquireLease(lease, 'crashed', ttl)).toBe(true)
      await sleep(ttl * 2 + 100)
      expect(await store.acquireLease(lease, 'next', 60_000)).toBe(true)
    })

    it('should release a lease for its owner only', async () => {
      const lease = `${key}#lease`
      expect(await store.acquireLease(lease, 'a', 60_000)).toBe(true)
      await store.releaseLease(lease, 'b')
      expect(await store.acquireLease(lease, 'b', 60_000)).toBe(false)
      await store.releaseLease(lease, 'a')
      expect(await store.acquireLease(lease, 'b', 60_000)).toBe(true)
    })

    it('should not fail releasing a lease nobody holds', async () => {
      await expect(store.releaseLease(`${key}#lease`, 'a')).resolves.toBeUndefined()
    })

    it('should return the owner of a live lease from get', async () => {
      const lease = `${key}#lease`
      expect(await store.acquireLease(lease, 'owner-1:7', 60_000)).toBe(true)
      expect(await store.get(lease)).toBe('owner-1:7')
      await store.releaseLease(lease, 'owner-1:7')
      expect(await store.get(lease)).toBeUndefined()
    })

    it('should renew a lease for its owner only (when the store has renewLease)', async () => {
      if (typeof store.renewLease !== 'function') return
      // Renewing needs the lease still live. On a loaded machine the three calls may outlast a
      // short ttl, and the store then rightly refuses (the lease is gone): the store's own state
      // tells which. A refusal while get still shows the lease held fails; for a lease that is
      // gone, the round is played again on a new key with twice the ttl, a few times at most.
      let lease = ''
      let taken = ttl
      for (let round = 0; ; round++) {
        lease = `${key}-${round}#lease`
        expect(await store.acquireLease(lease, 'a', taken)).toBe(true)
        expect(await store.renewLease(lease, 'b', 60_000)).toBe(false)
        if (await store.renewLease(lease, 'a', 60_000)) break
        expect(await store.get(lease)).toBeUndefined()
        expect(round).toBeLessThan(5)
        taken *= 2
      }
      await sleep(taken * 2 + 100)
      // Renewed to 60 s: still held by a, past the ttl it was taken with.
      expect(await store.get(lease)).toBe('a')
      expect(await store.acquireLease(lease, 'b', 60_000)).toBe(false)
    })

    it('should not renew a lease that expired or was released', async () => {
      if (typeof store.renewLease !== 'function') return
      const lease = `${key}#lease`
      expect(await store.renewLease(lease, 'a', 60_000)).toBe(false)
      expect(await store.acquireLease(lease, 'a', 60_000)).toBe(true)
      await store.releaseLease(lease, 'a')
      expect(await store.renewLease(lease, 'a', 60_000)).toBe(false)
      expect(await store.get(lease)).toBeUndefined()
    })

    it('should accept an options object with a signal on every call', async () => {
      const opts = { signal: new AbortController().signal }
      const lease = `${key}#lease`
      await store.set(key, 'v', 60_000, opts)
      expect(await store.get(key, opts)).toBe('v')
      await store.delete(key, 'v', opts)
      expect(await store.get(key, opts)).toBeUndefined()
      expect(await store.acquireLease(lease, 'a', 60_000, opts)).toBe(true)
      if (typeof store.renewLease === 'function')
        expect(await store.renewLease(lease, 'a', 60_000, opts)).toBe(true)
      await store.releaseLease(lease, 'a', opts)
      expect(await store.get(lease, opts)).toBeUndefined()
    })

    it('should not take a lease for a call whose signal was already aborted', async () => {
      const controller = new AbortController()
      controller.abort()
      const lease = `${key}#lease`
      await store.acquireLease(lease, 'late', 60_000, { signal: controller.signal }).catch(() => false)
      expect(await store.get(lease)).toBeUndefined()
    })

    it('should keep a lease apart from the value under the base key', async () => {
      await store.set(key, 'token', 60_000)
      expect(await store.acquireLease(`${key}#lease`, 'a', 60_000)).toBe(true)
      expect(await store.get(key)).toBe('token')
    })
  })
}
