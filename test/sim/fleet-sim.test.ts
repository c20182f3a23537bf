import type { TokenProvider } from '@tokenstash/core'
import type { SimClock } from './clock'
import { base, DEFECTS, type Defect, FOUND, ISSUE16, RACES } from './defects'
import { installSimClock, type Plan, runPlan } from './fleet'
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

  it(
    'should hold every invariant over random schedules',
    async () => {
      const seeds = REPLAY === undefined ? Array.from({ length: SCHEDULES }, (_, i) => BASE + i) : [REPLAY]
      const interleavings = new Set<string>()
      const failures: string[] = []
      /** Per kind of violation: how many schedules broke it, and the first seed that did. */
      const kinds = new Map<string, { count: number; first: number }>()
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
        for (const kind of new Set(result.violations.map(kindOf))) {
          const k = kinds.get(kind) ?? { count: 0, first: seed }
          k.count++
          kinds.set(kind, k)
        }
        if (++failing <= 5)
          failures.push(`seed ${seed}: ${result.violations[0]}\n  replay: ${replayCommand(seed)}`)
      }
      const ms = Number((process.hrtime.bigint() - started) / 1_000_000n)
      console.log(
        `fleet simulator: ${seeds.length} schedules (seeds ${seeds[0]}..${seeds[seeds.length - 1]}), ` +
          `${interleavings.size} distinct interleavings, ${steps} timer steps, ${failing} with violations, ${ms} ms`,
      )
      for (const [kind, { count, first }] of [...kinds]
        .sort((a, b) => b[1].count - a[1].count)
        .slice(0, 12)) {
        failures.push(`${count} schedules broke (first: seed ${first}): ${kind}`)
      }
      expect(failures).toEqual([])
    },
    Math.max(180_000, SCHEDULES * 100),
  )

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

  describe.each([
    ['the defects of issue 8 as fixed schedules', 'defect', DEFECTS],
    ['the defaults and races of issue 8 as fixed schedules', 'case', RACES],
    ['the defects of issue 16 as fixed schedules', 'defect', ISSUE16],
    ['violations the random schedules found, as fixed schedules', 'case', FOUND],
  ] as const)('%s', (_, what, defects) => {
    it.each(defects.map((d) => [d.name, d] as const))(`should hold every invariant in ${what} %s`, (_, d) =>
      holds(d),
    )
  })

  describe('the checker', () => {
    // Each invariant must be able to fail: a provider with a planted bug breaks exactly it.
    const fleet: Plan = {
      ...base,
      seed: 3001,
      instances: [0, 1].map((key) => ({ key, background: false })),
      lifetimesMs: [4_000, 4_000],
      storeLatencyMs: [1, 3],
      sourceLatencyMs: [20, 50],
      apiLatencyMs: [1, 5],
      ops: [0, 1, 2_000, 3_500, 6_000].flatMap((at) => [
        { at, kind: 'call' as const, inst: 0 },
        { at: at + 1, kind: 'call' as const, inst: 1 },
      ]),
    }
    /** `p` with its getToken replaced. */
    const withGetToken = (p: TokenProvider, getToken: TokenProvider['getToken']): TokenProvider => ({
      key: p.key,
      getToken,
      getTokenSet: (opts) => p.getTokenSet(opts),
      invalidate: (token) => p.invalidate(token),
      stats: () => p.stats(),
    })
    const planted = async (wrap: (p: TokenProvider, inst: number) => TokenProvider, plan = fleet) =>
      (await runPlan(plan, clock, { wrap })).violations.join('\n')

    it('should pass the plan with the real provider', async () => {
      expect((await runPlan(fleet, clock)).violations).toEqual([])
    })

    it('should catch a token served after its usableUntil', async () => {
      const stale = (p: TokenProvider) => {
        let first: Promise<string> | undefined
        return withGetToken(p, () => (first ??= p.getToken()))
      }
      expect(await planted(stale)).toMatch(/returned token #1 \d+ ms after its usableUntil/)
    })

    it('should catch a token served under another key', async () => {
      const providers: TokenProvider[] = []
      const crossed = (p: TokenProvider, inst: number) => {
        providers[inst] = p
        return withGetToken(p, () => providers[1 - inst]!.getToken())
      }
      expect(await planted(crossed)).toMatch(/i0 getToken returned token #\d+ of key 1 under key 0/)
    })

    it('should catch a cached failure', async () => {
      const remembering = (p: TokenProvider) => {
        let failure: Promise<string> | undefined
        return withGetToken(p, () => failure ?? p.getToken().catch((err) => (failure = Promise.reject(err))))
      }
      const failing: Plan = { ...fleet, script: [[{ outcome: 'invalid_client' }], []] }
      expect(await planted(remembering, failing)).toMatch(/got the very error an earlier call already got/)
    })

    it('should catch a caller left waiting without a timer', async () => {
      const stuck = (p: TokenProvider) => withGetToken(p, () => new Promise<string>(() => {}))
      expect(await planted(stuck)).toMatch(/waiting with no ref'd timer or pending I\/O of instance 0/)
    })
  })
})
