/**
 * One in-flight promise per key: concurrent callers share it, and it is cleared in `finally`
 * so a failure is never remembered.
 */
export class SingleFlight<T> {
  readonly #inflight = new Map<string, Promise<T>>()

  run(key: string, fn: () => Promise<T>): Promise<T> {
    const running = this.#inflight.get(key)
    if (running) return running
    const promise = fn().finally(() => {
      if (this.#inflight.get(key) === promise) this.#inflight.delete(key)
    })
    this.#inflight.set(key, promise)
    return promise
  }

  has(key: string): boolean {
    return this.#inflight.has(key)
  }
}

/** Lets one caller stop waiting on a shared promise without cancelling it for the others. */
export function withSignal<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise
  if (signal.aborted) return Promise.reject(signal.reason)
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort)
        resolve(value)
      },
      (err) => {
        signal.removeEventListener('abort', onAbort)
        reject(err)
      },
    )
  })
}

/**
 * Rejects with `onTimeout()` when `promise` takes longer than `ms`. The timer is ref'd by default
 * on purpose: a caller may be waiting on it, and Lambda ends an invocation whose event loop is
 * empty. `waited: false` (a call nobody waits on) unrefs it, so that it never keeps a process up.
 */
export function withTimeout<T>(
  promise: Promise<T>,
  ms: number,
  onTimeout: () => Error,
  waited = true,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(onTimeout()), ms)
    if (!waited) timer.unref?.()
    promise.then(
      (value) => {
        clearTimeout(timer)
        resolve(value)
      },
      (err) => {
        clearTimeout(timer)
        reject(err)
      },
    )
  })
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason)
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    const onAbort = () => {
      clearTimeout(timer)
      reject(signal?.reason)
    }
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/**
 * `promise`'s value, or `undefined` once `ms` have passed or `signal` aborted, whichever comes
 * first; a rejection also gives `undefined`. For callers who have something to fall back on (a
 * usable token) and must not wait past their deadline. The timer is ref'd: the caller waits on it.
 */
export function withDeadline<T>(
  promise: Promise<T>,
  ms: number,
  signal: AbortSignal | undefined,
): Promise<T | undefined> {
  if (signal?.aborted || !(ms > 0)) return Promise.resolve(undefined)
  return new Promise<T | undefined>((resolve) => {
    const finish = (value: T | undefined) => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
      resolve(value)
    }
    const onAbort = () => finish(undefined)
    const timer = setTimeout(onAbort, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
    promise.then(finish, () => finish(undefined))
  })
}
