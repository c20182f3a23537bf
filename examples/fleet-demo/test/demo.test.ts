import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { leakGuard } from '../../../test/support/leak-scan'
import type { Row } from '../src/report'

// `npm run demo` with short flags, as a user runs it: servers, worker-thread containers, the
// report. Checks what must hold whatever the machine's speed, never how fast anything was.

const root = join(__dirname, '..', '..', '..')
const LIFETIME_S = 4

describe('examples/fleet-demo', () => {
  let results: string
  let output: string
  let rows: Row[]

  beforeAll(async () => {
    results = mkdtempSync(join(tmpdir(), 'tokenstash-demo-'))
    const flags = [
      '--duration=5',
      '--invocations=100',
      '--containers=3',
      `--lifetime=${LIFETIME_S}`,
      '--strategies=per-invocation,tokenstash,tokenstash-warmer',
      `--results=${results}`,
    ]
    const run = await promisify(execFile)(
      process.execPath,
      [join(root, 'scripts', 'run-ts.mjs'), join(root, 'examples', 'fleet-demo', 'src', 'main.ts'), ...flags],
      { cwd: root, encoding: 'utf8', timeout: 150_000 },
    )
    output = run.stdout + run.stderr
    leakGuard()?.capture('child output', output, 'fleet demo stdout and stderr')
    rows = JSON.parse(readFileSync(join(results, 'fleet-demo.json'), 'utf8')).rows
  }, 160_000)

  afterAll(() => rmSync(results, { recursive: true, force: true }))

  it('should serve every invocation, and no expired token from tokenstash', () => {
    for (const row of rows)
      expect([row.strategy, row.invocations, row.failed]).toEqual([row.strategy, 100, 0])
    const ours = rows.find((r) => r.strategy === 'tokenstash')!
    expect(ours.expiredServed).toBe(0)
  })

  it('should make no invocation wait on the IdP with the warmer, and count those that did without it', () => {
    const perCall = rows.find((r) => r.strategy === 'per-invocation')!
    const ours = rows.find((r) => r.strategy === 'tokenstash')!
    const warmed = rows.find((r) => r.strategy === 'tokenstash-warmer')!
    expect(perCall.waitedOnIdp).toBe(100)
    // Without a warmer at least the first cold start waits for the fleet's first token request.
    expect(ours.waitedOnIdp).toBeGreaterThanOrEqual(1)
    expect([warmed.waitedOnIdp, warmed.failed, warmed.expiredServed]).toEqual([0, 0, 0])
    expect(warmed.tokenRequests).toBeGreaterThanOrEqual(1)
    expect(output).toContain('waited on IdP')
  })

  it('should count one token request per invocation without a cache, and few with tokenstash', () => {
    const perCall = rows.find((r) => r.strategy === 'per-invocation')!
    const ours = rows.find((r) => r.strategy === 'tokenstash')!
    expect(perCall.tokenRequests).toBe(100)
    expect(ours.tokenRequests).toBeGreaterThanOrEqual(1)
    // A token is refreshed after (0.75 - jitter ≤ 0.05) of its lifetime, and a JWT's whole-second
    // `exp` makes that lifetime up to 1 s shorter than the issuer's TTL: one request for the cold
    // start, then at most one per refresh interval, fleet-wide (containers share the store).
    const interval = (0.75 - 0.05) * (LIFETIME_S - 1)
    expect(ours.tokenRequests).toBeLessThanOrEqual(Math.floor(ours.runtimeMs / 1000 / interval) + 1)
    expect(ours.storeReads).toBeGreaterThan(0)
  })

  it('should print the table and write it as Markdown with an SVG chart', () => {
    expect(output).toMatch(/fetch per invocation\s+100\s/)
    expect(output).toContain('results: ')
    expect(output).toMatch(/^ {2}elapsed: \d+( min \d+)? s in all since the demo started/m)
    expect(output).toContain('The most it should need: 1 for the first cold start')
    expect(output).not.toMatch(/invocations +0 /)
    expect(output).not.toMatch(/warning|deprecat/i)
    const md = readFileSync(join(results, 'fleet-demo.md'), 'utf8')
    expect(md).toMatch(/^\| tokenstash \| 100 \|/m)
    expect(existsSync(join(results, 'token-requests.svg'))).toBe(true)
    expect(readFileSync(join(results, 'token-requests.svg'), 'utf8')).toMatch(/^<svg [^>]+>[\s\S]*<\/svg>\n$/)
  })
})
