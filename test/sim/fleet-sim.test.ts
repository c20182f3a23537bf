import type { SimClock } from './clock'
import { DEFECTS, type Defect, FOUND } from './defects'
import { installSimClock, runPlan } from './fleet'
import { randomPlan } from './schedule'

// The deterministic fleet simulator (README.md here): random schedules from seeds 1..SIM_SCHEDULES,
// each checked against DESIGN.md's invariants after every step. SIM_SEED=<n> replays one schedule
// and prints its trace; SIM_SEED_BASE=<n> explores another range.

const SCHEDULES = Number(process.env.SIM_SCHEDULES ?? 10_000)
const BASE = Number(process.env.SIM_SEED_BASE ?? 1)
const REPLAY = process.env.SIM_SEED === undefined ? undefined : Number(process.env.SIM_SEED)

export const replayCommand = (seed: number) =>
  `SIM_SEED=${seed} npx jest test/sim/fleet-sim.test.ts -t 'random schedules'`

/** A violation without its numbers, to count schedules per kind. */
const kindOf = (violation: string) =>
  violation
    .replace(/^at \+\d+ ms: /, '')
    .replace(/\d+/g, 'N')
    .replace(/^(iN:\S+,? )+waiting/, 'callers waiting')
    .replace(/\(ERR_(\w+): .*$/, '(ERR_$1)')
    .slice(0, 110)

describe('fleet simulator', () => {
  let clock: SimClock
  beforeAll(() => {
    clock = installSimClock()
  })
  afterAll(() => clock.uninstall())

  it('should hold every invariant over random schedules', async () => {
    const seeds = REPLAY === undefined ? Array.from({ length: SCHEDULES }, (_, i) => BASE + i) : [REPLAY]
    const interleavings = new Set<string>()
    const failures: string[] = []
    const kinds = new Map<string, number>()
    let failing = 0
    let steps = 0
    const started = process.hrtime.bigint()
    for (const seed of seeds) {
      const plan = randomPlan(seed)
      const result = await runPlan(plan, clock, { trace: REPLAY !== undefined })
      interleavings.add(result.interleaving)
      steps += result.steps
      if (REPLAY !== undefined) console.log(`${JSON.stringify(plan)}\n${result.trace.join('\n')}`)
      if (result.violations.length === 0) continue
      for (const kind of new Set(result.violations.map(kindOf))) kinds.set(kind, (kinds.get(kind) ?? 0) + 1)
      if (++failing <= 5)
        failures.push(`seed ${seed}: ${result.violations[0]}\n  replay: ${replayCommand(seed)}`)
    }
    const ms = Number((process.hrtime.bigint() - started) / 1_000_000n)
    console.log(
      `fleet simulator: ${seeds.length} schedules (seeds ${seeds[0]}..${seeds[seeds.length - 1]}), ` +
        `${interleavings.size} distinct interleavings, ${steps} timer steps, ${failing} with violations, ${ms} ms`,
    )
    for (const [kind, count] of [...kinds].sort((a, b) => b[1] - a[1]).slice(0, 10)) {
      failures.push(`${count} schedules broke: ${kind}`)
    }
    expect(failures).toEqual([])
  }, 180_000)

  it('should replay a schedule exactly: same seed, same interleaving, same violations', async () => {
    for (let seed = 1; seed <= 100; seed++) {
      const first = await runPlan(randomPlan(seed), clock)
      const again = await runPlan(randomPlan(seed), clock)
      expect({ seed, hash: again.interleaving, violations: again.violations }).toEqual({
        seed,
        hash: first.interleaving,
        violations: first.violations,
      })
    }
  })

  const holds = async (defect: Defect) => {
    const result = await runPlan(defect.plan, clock, { trace: true })
    if (result.violations.length > 0 || process.env.SIM_TRACE)
      console.log(`${defect.name}\n${result.trace.join('\n')}`)
    expect(result.violations).toEqual([])
  }

  describe('the defects of issue 8 as fixed schedules', () => {
    it.each(DEFECTS.map((d) => [d.name, d] as const))('should hold every invariant in defect %s', (_, d) =>
      holds(d),
    )
  })

  describe('violations the random schedules found, as fixed schedules', () => {
    it.each(FOUND.map((d) => [d.name, d] as const))('should hold every invariant in case %s', (_, d) =>
      holds(d),
    )
  })
})
