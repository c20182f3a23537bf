// The invocations every strategy is given: the same arrival times for each, from a seeded
// generator, shaped like a Lambda's day compressed into seconds. A cold burst opens the run (every
// container starts at once), a second burst scales the fleet out in the middle, and a quiet spell
// lets idle containers be reaped, so that traffic resuming after it meets cold containers again.

import { mulberry32 } from '../../../test/support/prng'

/** Arrival times in ms from the start, ascending. */
export type Traffic = number[]

/** Quiet spell, as fractions of the run: no invocation arrives between these. */
export const QUIET = [0.58, 0.7] as const
const BURSTS = [0, 0.35] as const

/**
 * `invocations` arrival times over `durationMs`: `burst` of them at once at each burst, the rest
 * spread at random outside the quiet spell.
 *
 * @example
 * ```ts
 * const traffic = makeTraffic({ invocations: 600, durationMs: 12_000, burst: 8, seed: 1 })
 * ```
 */
export function makeTraffic(o: {
  invocations: number
  durationMs: number
  burst: number
  seed: number
}): Traffic {
  const rand = mulberry32(o.seed)
  const times: number[] = []
  for (const at of BURSTS)
    for (let i = 0; i < o.burst && times.length < o.invocations; i++) times.push(at * o.durationMs)
  const open = 1 - (QUIET[1] - QUIET[0])
  while (times.length < o.invocations) {
    // Uniform over the open part of the run, then moved past the quiet spell.
    let f = rand() * open
    if (f >= QUIET[0]) f += QUIET[1] - QUIET[0]
    times.push(Math.round(f * o.durationMs))
  }
  return times.sort((a, b) => a - b)
}
