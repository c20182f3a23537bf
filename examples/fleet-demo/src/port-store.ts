// `--store memory`: one memoryStore in the demo's main thread, shared by every container (worker
// thread) over a MessagePort, so the fleet shares a store without any server. Each call is a
// message and its answer; there is no network, so it shows the coordination, not a store's latency.
import { type MessagePort, workerData } from 'node:worker_threads'
import { memoryStore, type TokenStore } from '@tokenstash/core'

type Op = 'get' | 'set' | 'delete' | 'acquireLease' | 'releaseLease'
interface Call {
  id: number
  op: Op
  args: unknown[]
}
type Answer = { id: number; ok: true; value: unknown } | { id: number; ok: false; message: string }

/**
 * Answers the store calls that arrive on `port` from one shared memoryStore.
 *
 * @example
 * ```ts
 * const shared = memoryStore()
 * const { port1, port2 } = new MessageChannel()
 * servePortStore(port1, shared) // port2 goes to the container as workerData.storePort
 * ```
 */
export function servePortStore(port: MessagePort, store: TokenStore = memoryStore()): void {
  port.on('message', async ({ id, op, args }: Call) => {
    try {
      const value = await (store[op] as (...a: unknown[]) => Promise<unknown>)(...args)
      port.postMessage({ id, ok: true, value } satisfies Answer)
    } catch (err) {
      port.postMessage({ id, ok: false, message: (err as Error).message } satisfies Answer)
    }
  })
}

/**
 * Inside a container: the TokenStore whose calls go to the main thread over `workerData.storePort`.
 *
 * @example
 * ```ts
 * const store = portStore()
 * ```
 */
export function portStore(port: MessagePort = workerData.storePort): TokenStore {
  let next = 0
  const waiting = new Map<number, (answer: Answer) => void>()
  port.on('message', (answer: Answer) => {
    waiting.get(answer.id)?.(answer)
    waiting.delete(answer.id)
  })
  const call = <T>(op: Op, ...args: unknown[]) =>
    new Promise<T>((resolve, reject) => {
      const id = next++
      waiting.set(id, (answer) => {
        if (answer.ok) resolve(answer.value as T)
        else reject(new Error(answer.message))
      })
      port.postMessage({ id, op, args } satisfies Call)
    })
  return {
    get: (key) => call('get', key),
    set: (key, value, ttlMs) => call('set', key, value, ttlMs),
    delete: (key, expected) => call('delete', key, expected),
    acquireLease: (key, owner, ttlMs) => call('acquireLease', key, owner, ttlMs),
    releaseLease: (key, owner) => call('releaseLease', key, owner),
  }
}
