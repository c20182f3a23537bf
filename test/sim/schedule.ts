import { chance, int, mulberry32, pick, weighted } from '../support/prng'
import type { Op, Plan } from './fleet'
import type { Outcome } from './source'
import type { StoreMethod } from './store'

// A random schedule from a seed: small (2-4 instances over two keys, 6-16 operations in one to
// three bursts spanning up to a few token lifetimes), so ten thousand run in well under a minute.
// Each schedule is healthy, has store faults, endpoint faults, or both; within a burst arrivals are
// staggered by 0-40 ms, so lease winners, losers, refreshes and revocations interleave differently.
// Whatever the profile: instances paused past the lease, callers with deadlines, clocks up to ±30 s
// apart, deletes slower than reads, store clients still connecting at start.

type Profile = 'healthy' | 'store' | 'source' | 'both'

const SOURCE_FAULTS: readonly (readonly [Outcome, number])[] = [
  ['5xx', 3],
  ['429', 2],
  ['429ra', 2],
  ['slow', 2],
  ['network', 2],
  ['invalid_client', 1],
  ['garbage', 1],
  ['malformed', 1],
  ['circular', 1],
]
const STORE_METHODS: readonly (StoreMethod | undefined)[] = [
  'get',
  'get',
  'set',
  'acquireLease',
  'acquireLease',
  'releaseLease',
  'renewLease',
  'delete',
  undefined,
]
/** Token lifetimes (10 s to 24 h; short ones weigh more: they pass through more refreshes per run). */
const LIFETIMES: readonly (readonly [number, number])[] = [
  [10_000, 4],
  [20_000, 4],
  [60_000, 2],
  [900_000, 1],
  [3_600_000, 1],
  [86_400_000, 0.5],
]

export function randomPlan(seed: number): Plan {
  const rng = mulberry32(seed)
  const profile = weighted<Profile>(rng, [
    ['healthy', 4],
    ['store', 3],
    ['source', 2],
    ['both', 1],
  ])
  const storeFaults = profile === 'store' || profile === 'both'
  const sourceFaults = profile === 'source' || profile === 'both'
  const n = int(rng, 2, 4)
  const instances = Array.from({ length: n }, (_, i) => ({
    key: i < 2 ? i : int(rng, 0, 1),
    background: chance(rng, 0.5),
  }))
  // Each instance's clock off true time by up to ±30 s (the tolerance the core README states).
  const skewed = chance(rng, 0.3)
  const lifetimesMs = [weighted(rng, LIFETIMES), weighted(rng, LIFETIMES)]
  const span = int(rng, 1, 3) * Math.max(...lifetimesMs)
  const shortest = Math.min(...lifetimesMs)

  const ops: Op[] = []
  const bursts = int(rng, 1, 3)
  const total = int(rng, 4, 8)
  for (let b = 0; b < bursts; b++) {
    // Later bursts fall anywhere, or in a refresh window (where callers wait on a refresh, or do not).
    let at = b === 0 ? 0 : chance(rng, 0.5) ? int(rng, 0, span) : int(rng, 0.66 * shortest, 0.8 * shortest)
    const size = Math.ceil(total / bursts)
    for (let k = 0; k < size; k++) {
      at += int(rng, 0, 40)
      const inst = int(rng, 0, n - 1)
      const kind = weighted<string>(rng, [
        ['call', 10],
        ['getSet', 2],
        ['force', 1],
        ['invalidateAll', 1],
        ['revoke', 2],
        ['freeze', 0.7],
        ['store', storeFaults ? 3 : 0],
        ['source', sourceFaults ? 3 : 0],
      ])
      switch (kind) {
        case 'call': {
          const extra = weighted<string>(rng, [
            ['none', 4],
            ['retry', 2],
            ['deadline', 3],
          ])
          ops.push({
            at,
            kind,
            inst,
            ...(extra === 'retry' ? { retryOnFailMs: int(rng, 0, 500) } : {}),
            ...(extra === 'deadline' ? { deadlineMs: int(rng, 20, 2_000), abort: chance(rng, 0.5) } : {}),
          })
          break
        }
        case 'freeze':
          // Mostly longer than the lease (30 s by default), sometimes a few seconds.
          ops.push({
            at,
            kind,
            inst,
            ms: chance(rng, 0.6) ? int(rng, 31_000, 90_000) : int(rng, 1_000, 30_000),
          })
          break
        case 'getSet':
        case 'force':
        case 'invalidateAll':
          ops.push({ at, kind, inst })
          break
        case 'revoke':
          ops.push({ at, kind, key: int(rng, 0, 1) })
          break
        case 'store': {
          const what = weighted<string>(rng, [
            ['hang', 4],
            ['outage', 2],
            ['restart', 1],
            ['crossed', 1],
          ])
          if (what === 'hang')
            ops.push({
              at,
              kind: 'hang',
              inst,
              method: pick(rng, STORE_METHODS),
              nth: int(rng, 1, 4),
              // Hung (30 s), or landing just after the client gave up (storeTimeoutMs is 1 s).
              ...(chance(rng, 0.5) ? { ms: int(rng, 1_000, 3_000) } : {}),
              ignoresAbort: chance(rng, 0.5),
            })
          else if (what === 'outage')
            ops.push({
              at,
              kind: 'outage',
              ms: int(rng, 100, 8_000),
              fault: pick(rng, ['error', 'hang', 'slow'] as const),
            })
          else if (what === 'crossed') ops.push({ at, kind: 'crossed', ms: int(rng, 100, 5_000) })
          else ops.push({ at, kind: 'restart' })
          break
        }
        case 'source':
          ops.push({
            at,
            kind: 'sourceFault',
            key: int(rng, 0, 1),
            outcome: weighted(rng, SOURCE_FAULTS),
            ms: int(rng, 50, 6_000),
          })
          break
      }
    }
  }
  return {
    seed,
    instances,
    lifetimesMs,
    sourceKind: chance(rng, 0.1) ? 'http' : 'custom',
    store: true,
    storeLatencyMs: [0, storeFaults ? int(rng, 1, 20) : int(rng, 0, 5)],
    sourceLatencyMs: [5, int(rng, 20, 400)],
    apiLatencyMs: [1, int(rng, 1, 30)],
    ...(skewed ? { clockOffsetsMs: instances.map(() => int(rng, -30_000, 30_000)) } : {}),
    ...(chance(rng, 0.25) ? { deleteLatencyMs: [20, int(rng, 50, 500)] as [number, number] } : {}),
    ops: chance(rng, 0.1)
      ? [
          // A cold start before the store client has connected (within storeTimeoutMs, or not).
          {
            at: 0,
            kind: 'connecting',
            inst: int(rng, 0, n - 1),
            ms: pick(rng, [int(rng, 50, 800), int(rng, 1_000, 4_000)]),
          },
          ...ops,
        ]
      : ops,
  }
}
