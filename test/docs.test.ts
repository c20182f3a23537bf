import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

// The docs agree with each other and with the one source of figures, bench/RESULTS.md.
const root = join(__dirname, '..')
const read = (file: string) => readFileSync(join(root, file), 'utf8')
const tracked = (pattern: string) =>
  execFileSync('git', ['ls-files', pattern], { cwd: root, encoding: 'utf8' }).split('\n').filter(Boolean)

describe('docs', () => {
  const results = read('bench/RESULTS.md')

  it('should quote bench figures only with a link to bench/RESULTS.md, and the same figures', () => {
    for (const file of [
      'README.md',
      'packages/core/README.md',
      'packages/axios/README.md',
      'packages/middy/README.md',
    ]) {
      const text = read(file)
      expect([file, /bench\/RESULTS\.md/.test(text)]).toEqual([file, true])
    }
    // Cache per container on the simulated day, and the warm-path ratio: as RESULTS has them.
    const perContainer = /cache per container ([\d,]+), \*\*tokenstash 35\*\*/.exec(results)?.[1]
    expect(perContainer).toBeDefined()
    expect(read('README.md')).toContain(`35 token requests vs ${perContainer} with a cache per`)
    expect(read('packages/core/README.md')).toContain(`${perContainer} with a cache per container`)
    expect(results).toContain('0.80× (3.48 M vs 4.36 M ops/s)')
    expect(read('packages/core/README.md')).toContain('0.80×')
    expect(read('packages/axios/README.md')).toContain('0.966×')
  })

  it("should give the demo's token lifetime as the demo's default", () => {
    const lifetime = /num\('lifetime', (\d+),/.exec(read('examples/fleet-demo/src/main.ts'))?.[1]
    expect(lifetime).toBe('4')
    const readme = read('README.md')
    for (const m of readme.matchAll(/the demo's (\d+) s tokens/g)) expect(m[1]).toBe(lifetime)
    expect(readme).toContain(`tokens that live ${lifetime} s`)
  })

  it('should name only current Lambda Node.js runtimes in docs and templates', () => {
    const files = [...tracked('*.md'), ...tracked('*.yaml'), ...tracked('*.yml')]
    const stale = files.filter((f) => /\bnodejs(1\d|20)\.x\b/.test(read(f)))
    expect(stale).toEqual([])
  })

  it('should compare the stores in the root README', () => {
    const readme = read('README.md')
    const section = readme.slice(
      readme.indexOf('## Choosing a store'),
      readme.indexOf('## How a token is served'),
    )
    for (const row of [
      'read latency',
      'cost at rest',
      'cost per request',
      'VPC for Lambda',
      'operations',
      'cluster mode',
      'what a cold container pays',
    ])
      expect(section).toContain(`| ${row}`)
    for (const column of ['DynamoDB', 'Redis / ElastiCache', 'memory only']) expect(section).toContain(column)
  })
})
