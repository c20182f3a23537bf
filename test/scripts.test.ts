import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'

// The root scripts as a user runs them on a fresh clone.
const root = join(__dirname, '..')

describe('root scripts', () => {
  it('should run only the named package with `npm run test:unit -- packages/middy`', () => {
    // `--selectProjects` takes every word after it; a pattern appended by npm used to become a
    // project name, and the whole unit suite ran.
    const out = execFileSync('npm', ['run', '--silent', 'test:unit', '--', 'packages/middy', '--listTests'], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const files = out
      .split('\n')
      .filter((l) => l.endsWith('.test.ts'))
      .map((l) => relative(root, l.trim()))
    expect(files.length).toBeGreaterThan(0)
    expect(files.filter((f) => !f.startsWith('packages/middy/'))).toEqual([])
  })

  it('should link every bin to a committed file, so `pnpm install` on a fresh clone has nothing to warn about', () => {
    const bins = readdirSync(join(root, 'packages')).flatMap((dir) => {
      const file = join(root, 'packages', dir, 'package.json')
      if (!existsSync(file)) return []
      const pkg = JSON.parse(readFileSync(file, 'utf8'))
      return Object.values<string>(pkg.bin ?? {}).map((target) => join('packages', dir, target))
    })
    expect(bins.length).toBeGreaterThan(0)
    for (const bin of bins) {
      // pnpm links bins before anything is built: a bin under dist/ (ignored) does not exist yet.
      expect(spawnSync('git', ['ls-files', '--error-unmatch', bin], { cwd: root }).status).toBe(0)
    }
  })

  it('should start the built CLI through the proxy bin shim', () => {
    const run = spawnSync(process.execPath, [join(root, 'packages/proxy/bin/tokenstash-proxy.cjs')], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH },
    })
    expect(run.stderr).toMatch(/^tokenstash-proxy: missing --upstream/)
    expect(run.status).toBe(2)
  })
})
