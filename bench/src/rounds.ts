// One way to run contestants side by side for every benchmark here: several rounds, each running
// every task for the same time, the order rotated per round so that warming up is nobody's
// handicap; the median of the rounds is reported, and each task's throughput relative to the
// round's first task (a ratio within a round cancels load that moves every task alike).
import { cpus, loadavg } from 'node:os'
import { Bench } from 'tinybench'

export interface RoundsResult {
  name: string
  /** Median throughput over the rounds, ops/s. */
  median: number
  /** Per round: this task's throughput over the first task's. */
  ratios: number[]
  /** p99 latency of the last round, µs. */
  p99Us: number
}

export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
export const fmt = (x: number) => Math.round(x).toLocaleString('en-US')

/**
 * Runs `tasks` for `rounds` rounds of `timeMs` each (after a short warm-up) and summarises them.
 *
 * @example
 * ```ts
 * const [floor, ours] = await rounds([['floor', async () => {}], ['ours', () => provider.getToken()]], { rounds: 5, timeMs: 500 })
 * ```
 */
export async function rounds(
  tasks: ReadonlyArray<readonly [string, () => unknown]>,
  options: { rounds: number; timeMs: number },
): Promise<RoundsResult[]> {
  const perRound: number[][] = []
  const p99: number[] = []
  for (let round = 0; round < options.rounds; round++) {
    const bench = new Bench({ time: options.timeMs, warmupTime: Math.min(200, options.timeMs / 2) })
    for (let k = 0; k < tasks.length; k++) {
      const [name, fn] = tasks[(k + round) % tasks.length]!
      bench.add(name, async () => {
        await fn()
      })
    }
    await bench.run()
    const byName = new Map(bench.tasks.map((t) => [t.name, t.result!]))
    perRound.push(tasks.map(([name]) => byName.get(name)!.throughput.mean))
    tasks.forEach(([name], i) => {
      p99[i] = (byName.get(name)!.latency.p99 ?? 0) * 1000
    })
  }
  return tasks.map(([name], i) => ({
    name,
    median: median(perRound.map((r) => r[i]!)),
    ratios: perRound.map((r) => r[i]! / r[0]!),
    p99Us: p99[i]!,
  }))
}

/** One line saying where the figures come from: cores, CPU model, Node version, load, date. */
export function machine(): string {
  const cpu = cpus()
  return `machine: ${cpu.length} × ${cpu[0]?.model.trim()}, node ${process.version}, load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}, ${new Date().toISOString()}`
}
