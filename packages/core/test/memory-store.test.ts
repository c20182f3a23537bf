import { memoryStore } from '@tokenstash/core'
import { runStoreContract } from '@tokenstash/core/testing'

runStoreContract('memoryStore', () => memoryStore())

describe('memoryStore', () => {
  it('should evict the least recently used entry past max', async () => {
    const store = memoryStore({ max: 2 })
    await store.set('a', '1', 60_000)
    await store.set('b', '2', 60_000)
    await store.get('a')
    await store.set('c', '3', 60_000)
    expect(await store.get('b')).toBeUndefined()
    expect(await store.get('a')).toBe('1')
  })

  it('should expire on the injected clock', async () => {
    let t = 1_000
    const store = memoryStore({ now: () => t })
    await store.set('k', 'v', 100)
    t += 99
    expect(await store.get('k')).toBe('v')
    t += 1
    expect(await store.get('k')).toBeUndefined()
  })

  it('should reject a bad max with a message naming it', () => {
    expect(() => memoryStore({ max: 0 })).toThrow('Expected `max` to be an integer >= 1, got 0')
  })
})
