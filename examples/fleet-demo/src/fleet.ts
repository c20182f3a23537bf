// A simulated Lambda function: containers (worker threads running src/handler.ts, each with its
// own modules and memory) started and reaped as Lambda does. An invocation goes to an idle warm
// container, the most recently used first; with none idle a new container cold-starts for it, up
// to `maxContainers` (beyond that it waits for the least busy one, as a throttled function's
// retries would). Containers idle for `idleMs` are reaped, and every container is recycled after
// a random age, so a fleet sees many cold starts over a run.
import { MessageChannel, type MessagePort } from 'node:worker_threads'
import type { TokenStore } from '@tokenstash/core'
import {
  apiGatewayEvent,
  type Container,
  type InvokeResult,
  startContainer,
} from '../../lambda-dynamodb/src/local/containers'
import { servePortStore } from './port-store'

export interface FleetOptions {
  /** The handler module every container loads, and the container script (see bundle.ts). */
  bundle: { handler: string; script: string }
  env: Record<string, string>
  maxContainers: number
  idleMs: number
  /** Containers are recycled after an age drawn between these, in ms. */
  maxAgeMs: readonly [number, number]
  /** With `--store memory`: the store every container reaches over its message port. */
  sharedMemory?: TokenStore
  random: () => number
}

interface Slot {
  container: Container
  port?: MessagePort
  busy: number
  lastUsed: number
  retireAt: number
  stats: Record<string, number>
}

export interface Fleet {
  invoke(id: string): Promise<InvokeResult>
  /** Containers alive now, and started so far. */
  size(): { live: number; started: number }
  /** Store calls summed over every container, live and reaped. */
  stats(): Record<string, number>
  /** Waits for every invocation, then stops every container. */
  stop(): Promise<void>
}

/**
 * Starts an empty fleet; containers start with the first invocations.
 *
 * @example
 * ```ts
 * const fleet = startFleet({ bundle, env, maxContainers: 8, idleMs: 1_500, maxAgeMs: [5_000, 9_000], random: Math.random })
 * await fleet.invoke('42')
 * await fleet.stop()
 * ```
 */
export function startFleet(o: FleetOptions): Fleet {
  const slots = new Set<Slot>()
  const retired: Record<string, number> = {}
  let started = 0
  const inFlight = new Set<Promise<unknown>>()

  const retire = async (slot: Slot) => {
    slots.delete(slot)
    for (const [k, v] of Object.entries(slot.stats)) retired[k] = (retired[k] ?? 0) + v
    await slot.container.stop()
    slot.port?.close()
  }
  const reaper = setInterval(() => {
    const now = Date.now()
    for (const slot of slots)
      if (slot.busy === 0 && (now - slot.lastUsed > o.idleMs || now > slot.retireAt)) void retire(slot)
  }, 100)

  const spawn = (): Slot => {
    started++
    let port: MessagePort | undefined
    let options = {}
    if (o.sharedMemory) {
      const channel = new MessageChannel()
      servePortStore(channel.port1, o.sharedMemory)
      port = channel.port1
      options = { data: { storePort: channel.port2 }, transferList: [channel.port2] }
    }
    const container = startContainer(`c${started}`, o.env, { ...o.bundle, ...options })
    const [min, max] = o.maxAgeMs
    const slot = {
      container,
      port,
      busy: 0,
      lastUsed: Date.now(),
      retireAt: Date.now() + min + o.random() * (max - min),
      stats: {},
    }
    slots.add(slot)
    return slot
  }

  const pick = (): Slot => {
    const idle = [...slots].filter((s) => s.busy === 0).sort((a, b) => b.lastUsed - a.lastUsed)
    if (idle[0]) return idle[0]
    if (slots.size < o.maxContainers) return spawn()
    return [...slots].sort((a, b) => a.busy - b.busy)[0]!
  }

  return {
    invoke(id) {
      const slot = pick()
      slot.busy++
      const run = slot.container.invoke(apiGatewayEvent(id)).then((result) => {
        slot.busy--
        slot.lastUsed = Date.now()
        if (result.stats) slot.stats = result.stats
        return result
      })
      inFlight.add(run)
      void run.finally(() => inFlight.delete(run))
      return run
    },
    size: () => ({ live: slots.size, started }),
    stats() {
      const total = { ...retired }
      for (const slot of slots)
        for (const [k, v] of Object.entries(slot.stats)) total[k] = (total[k] ?? 0) + v
      return total
    },
    async stop() {
      await Promise.allSettled([...inFlight])
      clearInterval(reaper)
      await Promise.all([...slots].map(retire))
    },
  }
}
