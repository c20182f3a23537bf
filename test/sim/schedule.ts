import { chance, int, mulberry32, pick, weighted } from '../support/prng'
import type { Op, Plan } from './fleet'
import type { Outcome } from './source'
import type { StoreMethod } from './store'

// A random schedule from a seed: small (2-4 instances over two keys, 6-16 operations in one to
// three bursts spanning up to a few token lifetimes), so ten thousand run in well under a minute.
// Each schedule is healthy, has store faults, endpoint faults, or both; within a burst arrivals are
// staggered by 0-40 ms, so lease winners, losers, refreshes and revocations interleave differently.

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
  'releaseLease',
  'delete',
  undefined,
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
  // Clock skew between instances (±30 s, the tolerance the core README states) needs tokens long
  // enough for it: the margin is capped at L/8, so at least 12 minutes.
  const skewed = chance(rng, 0.15)
  const lifetimes = skewed ? [900_000, 3_600_000] : [4_000, 8_000, 20_000]
  const lifetimesMs = [pick(rng, lifetimes), pick(rng, lifetimes)]
  const span = int(rng, 1, 3) * Math.max(...lifetimesMs)

  const ops: Op[] = []
  const bursts = int(rng, 1, 3)
  const total = int(rng, 4, 8)
  for (let b = 0; b < bursts; b++) {
    let at = b === 0 ? 0 : int(rng, 0, span)
    const size = Math.ceil(total / bursts)
    for (let k = 0; k < size; k++) {
      at += int(rng, 0, 40)
      const inst = int(rng, 0, n - 1)
      const kind = weighted<string>(rng, [
        ['call', 10],
        ['getSet', 2],
        ['force', 1],
        ['invalidateAll', 0.5],
        ['revoke', 2],
        ['store', storeFaults ? 3 : 0],
        ['source', sourceFaults ? 3 : 0],
      ])
      switch (kind) {
        case 'call':
          ops.push({ at, kind, inst, ...(chance(rng, 0.3) ? { retryOnFailMs: int(rng, 0, 500) } : {}) })
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
            ops.push({ at, kind: 'hang', inst, method: pick(rng, STORE_METHODS), nth: int(rng, 1, 4) })
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
    ops,
  }
}
