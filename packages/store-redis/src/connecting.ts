/**
 * What the store reads of a client's connection state: ioredis (`Redis`, `Cluster`) has `status`
 * (`'wait'`, `'connecting'`, `'connect'`, `'ready'`, `'reconnecting'`, ...), node-redis (v4 and
 * later) `isOpen` and `isReady`; both emit `'ready'`.
 */
interface ConnectionState {
  status?: unknown
  isOpen?: unknown
  isReady?: unknown
  connect?: () => Promise<unknown>
  once?: (event: string, listener: () => void) => unknown
  on?: (event: string, listener: () => void) => unknown
  off?: (event: string, listener: () => void) => unknown
  removeListener?: (event: string, listener: () => void) => unknown
}

// A client made with `lazyConnect: true` is in 'wait' until its first command, which connects it;
// with the offline queue off that command is refused, so the store starts the connection itself
// (as the command would have).
const FIRST_CONNECTION = new Set(['wait', 'connecting', 'connect'])

/**
 * Waits for a client that has not finished its first connection yet, so a store call made at
 * init (Middy's prefetch runs at module load, before the socket is up) is not refused by a client
 * with `enableOfflineQueue: false` (ioredis) or `disableOfflineQueue: true` (node-redis). Only the
 * first connection is waited for: once the client has been ready, a reconnecting client fails fast
 * as its options say, and the provider falls back to memory.
 *
 * @example
 * ```ts
 * const connection = firstConnection(client, 5_000)
 * await connection.ready(signal) // at once for a connected client
 * ```
 */
export function firstConnection(
  client: unknown,
  maxWaitMs: number,
): { ready(signal?: AbortSignal): Promise<void> } {
  const c = client as ConnectionState | null
  const listen = typeof c?.once === 'function' && typeof (c.off ?? c.removeListener) === 'function'
  const connecting = (): boolean => {
    if (typeof c?.status === 'string') return FIRST_CONNECTION.has(c.status)
    // node-redis: open (connect() was called) but not ready yet. Not open: connect() was never
    // called, which is not the store's to fix.
    return c?.isOpen === true && c.isReady === false
  }
  let everReady = !listen || !connecting()
  if (!everReady) {
    c!.once!('ready', () => {
      everReady = true
    })
  }

  return {
    ready(signal) {
      if (everReady || !connecting()) return Promise.resolve()
      if (c!.status === 'wait') c!.connect?.().catch(() => {})
      return new Promise<void>((resolve, reject) => {
        const cleanup = () => {
          clearTimeout(timer)
          ;(c!.off ?? c!.removeListener)!.call(c, 'ready', done)
          signal?.removeEventListener('abort', aborted)
        }
        const done = () => {
          cleanup()
          resolve()
        }
        const aborted = () => {
          cleanup()
          reject(signal!.reason)
        }
        // Past maxWaitMs the command is sent anyway and the client answers as it would have.
        // Not unref'd: the caller waits on it.
        const timer = setTimeout(done, maxWaitMs)
        c!.once!('ready', done)
        if (signal?.aborted) aborted()
        else signal?.addEventListener('abort', aborted, { once: true })
      })
    },
  }
}
