import { type Clock, withGlobal } from '@sinonjs/fake-timers'

// The virtual clock of the simulator. @sinonjs/fake-timers owns Date, performance and the timer
// functions the provider uses (setTimeout, setInterval); setImmediate, nextTick and microtasks
// stay real, so one real setImmediate turn lets every promise chain run until it waits on a
// (virtual) timer again. The simulator fires one timer at a time and settles in between, which is
// what an event loop does, minus the waiting.

const realSetImmediate = globalThis.setImmediate

interface FakeTimer {
  id: number
  callAt: number
  order: number
}

interface Handle {
  hasRef?: () => boolean
}

export interface SimClock {
  now(): number
  /** Runs every promise chain until each waits on a virtual timer (or on nothing). */
  settle(): Promise<void>
  /**
   * Timers that keep a Node process alive (not unref'd); with `owner`, only those created in that
   * owner's async context (see `installClock`). Simulated I/O is a ref'd timer.
   */
  refTimers(owner?: unknown): number
  /** Every timer of `owner`, ref'd or not: none means the owner is idle (nothing of it will run again). */
  timersOf(owner: unknown): number
  /** When the next timer fires, or undefined when none is left. */
  nextAt(): number | undefined
  /** Fires the next timer only (moving the clock to it). */
  fireNext(): void
  /**
   * Pauses an owner until `until` (SIGSTOP, a frozen Lambda container): none of its timers fires
   * before then, those due meanwhile fire at `until`, in the order they were due, all at once.
   */
  freeze(owner: unknown, until: number): void
  /** Whether `owner` is paused now. */
  frozen(owner: unknown): boolean
  /** Moves the clock forward to `t`; the caller checks first that no timer is due before it. */
  advanceTo(t: number): void
  /** Drops every timer and moves back to the start, for the next schedule. */
  reset(): void
  uninstall(): void
}

export const SIM_EPOCH = Date.UTC(2026, 0, 1)
/** Above any creation order fake-timers hands out: a moved timer fires after those already due then. */
const MOVED_ORDER = 2 ** 40

/** `owner()` names the async context a timer is created in (the simulator passes an instance's). */
export function installClock(owner: () => unknown = () => undefined): SimClock {
  const clock: Clock = withGlobal(globalThis).install({
    now: SIM_EPOCH,
    toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date', 'performance'],
  })
  const timers = () => (clock as unknown as { timers?: Map<number, FakeTimer> }).timers
  // fake-timers keeps the ref flag on the handle it returns, not on its timer: remember the handles.
  const handles = new Map<number, { handle: Handle; owner: unknown }>()
  const g = globalThis as unknown as Record<string, (...args: unknown[]) => unknown>
  for (const name of ['setTimeout', 'setInterval']) {
    const fake = g[name]!
    g[name] = Object.assign(function track(this: unknown, ...args: unknown[]) {
      const handle = fake.apply(this, args) as Handle
      handles.set(Number(handle), { handle, owner: owner() })
      return handle
    }, fake)
  }

  // Paused owners, with the time they resume. A timer of one that is due earlier moves to that time
  // (in fake-timers' heap: removed, moved, pushed back; its id, handle and order stay).
  const frozen = new Map<unknown, number>()
  let moved = 0
  const heap = () =>
    (clock as unknown as { timerHeap?: { remove(t: FakeTimer): boolean; push(t: FakeTimer): void } })
      .timerHeap
  const holdFrozen = () => {
    if (frozen.size === 0) return
    const now = clock.now
    for (const [owner, until] of frozen) if (until <= now) frozen.delete(owner)
    if (frozen.size === 0) return
    const due: FakeTimer[] = []
    for (const t of timers()?.values() ?? []) {
      const until = frozen.get(handles.get(t.id)?.owner)
      if (until !== undefined && t.callAt < until) due.push(t)
    }
    // Moved in the order they were due, which their new `order` keeps (fake-timers breaks ties by it).
    due.sort((a, b) => a.callAt - b.callAt || a.order - b.order)
    for (const t of due) {
      const until = frozen.get(handles.get(t.id)?.owner)!
      const h = heap()
      const inHeap = h?.remove(t)
      t.callAt = until
      t.order = MOVED_ORDER + moved++
      if (inHeap) h!.push(t)
    }
  }

  const next = (): FakeTimer | undefined => {
    holdFrozen()
    let first: FakeTimer | undefined
    for (const t of timers()?.values() ?? []) {
      if (!first || t.callAt < first.callAt || (t.callAt === first.callAt && t.order < first.order)) first = t
    }
    return first
  }

  return {
    now: () => clock.now,
    settle: () => new Promise<void>((resolve) => realSetImmediate(resolve)),
    refTimers(of?: unknown) {
      let n = 0
      for (const id of timers()?.keys() ?? []) {
        const h = handles.get(id)
        if (of !== undefined && h?.owner !== of) continue
        if (h?.handle.hasRef?.() !== false) n++
      }
      return n
    },
    timersOf(of: unknown) {
      let n = 0
      for (const id of timers()?.keys() ?? []) if (handles.get(id)?.owner === of) n++
      return n
    },
    nextAt: () => next()?.callAt,
    fireNext() {
      holdFrozen()
      clock.next()
    },
    freeze(owner, until) {
      frozen.set(owner, Math.max(until, frozen.get(owner) ?? 0))
      holdFrozen()
    },
    frozen: (owner) => (frozen.get(owner) ?? 0) > clock.now,
    advanceTo(t) {
      if (t > clock.now) clock.tick(t - clock.now)
    },
    reset() {
      clock.reset()
      handles.clear()
      frozen.clear()
    },
    uninstall() {
      clock.uninstall()
    },
  }
}
