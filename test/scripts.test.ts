import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'

// The root scripts as a user runs them on a fresh clone.
const root = join(__dirname, '..')

/** Runs `check` in a fresh temp dir holding `files` (name → content); the dir is removed after. */
function inFixture(prefix: string, files: Record<string, string>, check: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), `tokenstash-${prefix}-`))
  try {
    for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content)
    check(dir)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** The repository's jest on the fixture in `dir`, with `config` (its rootDir) and `env` added to ours. */
function runJest(dir: string, config: object, env: Record<string, string> = {}) {
  return spawnSync(
    process.execPath,
    [
      join(root, 'node_modules/jest/bin/jest.js'),
      '--config',
      JSON.stringify({ rootDir: dir, ...config }),
      '--ci',
    ],
    { cwd: dir, encoding: 'utf8', env: { ...process.env, ...env } },
  )
}

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

  it('should end a failed jest run with the failing tests, their first lines and the counts', () => {
    // CI keeps the end of a long log: a run whose tail said only "1 failed" named nothing to fix.
    const files = {
      'a.test.js':
        "it('passes', () => {})\n" +
        "describe('the lease', () => { it('is given back', () => { expect({ held: true }).toEqual({ held: false }) }) })\n",
      'b.test.js': "throw new Error('cannot load this file')\n",
    }
    inFixture('reporter', files, (dir) => {
      const summary = join(dir, 'summary.json')
      const config = { testEnvironment: 'node', reporters: [join(root, 'scripts/jest-summary-reporter.cjs')] }
      const run = runJest(dir, config, { TOKENSTASH_SUMMARY_FILE: summary })
      expect(run.status).toBe(1)
      const tail = run.stdout.slice(run.stdout.lastIndexOf('failed:\n'))
      expect(tail).toContain('a.test.js › the lease is given back')
      expect(tail).toContain('expect(received).toEqual(expected)')
      expect(tail).toContain('b.test.js: failed to run')
      expect(tail).toContain('cannot load this file')
      expect(tail).not.toContain('\u001b[')
      expect(tail).not.toMatch(/^\s+at /m)
      expect(tail.trimEnd().split('\n').at(-1)).toBe('tests: 1 passed, 1 failed, 0 skipped')
      const counts = JSON.parse(readFileSync(summary, 'utf8'))
      expect(counts).toMatchObject({ passed: 1, failed: 1, brokenSuites: 2 })
      expect(run.stdout).toContain('suites failed: 2 (1 of them failed to run)')
      expect(counts.failures).toHaveLength(2)
    })
  })

  it('should name what a jest worker still held when jest had to stop it, and the files it ran', () => {
    const files = {
      'leaks.test.js': "it('leaks', () => { setInterval(() => {}, 1_000) })\n",
      'clean.test.js': "it('is clean', () => {})\n",
    }
    inFixture('worker', files, (dir) => {
      const run = runJest(dir, {
        cacheDirectory: join(dir, '.cache'),
        // Two files and no timings yet: jest runs them in workers, not in band.
        maxWorkers: 2,
        testEnvironment: join(root, 'test/support/node-environment.ts'),
        transform: {
          '\\.ts$': [require.resolve('@swc/jest'), { jsc: { parser: { syntax: 'typescript' } } }],
        },
      })
      const out = `${run.stdout}${run.stderr}`
      expect(run.status).toBe(0)
      expect(out).toMatch(
        /jest worker \d+ stopped by SIGTERM, still holding: [^\n]*Timeout[^\n]*files it ran, last first: [^\n]*leaks\.test\.js/,
      )
      // Only the worker that ran the leaking file is stopped (the other reached beforeExit and left).
      expect(out.match(/stopped by SIGTERM/g)).toHaveLength(1)
    })
  })

  it("should leave out passing files' console output, keep a failing file's, and say how much it left out", () => {
    const files = {
      'quiet.test.js': "it('passes', () => { console.warn('QUIET-' + 'MARK') })\n",
      'loud.test.js': "it('fails', () => { console.warn('LOUD-' + 'MARK'); expect(1).toBe(2) })\n",
    }
    inFixture('quiet', files, (dir) => {
      const config = {
        testEnvironment: 'node',
        reporters: [join(root, 'scripts/jest-quiet-reporter.cjs'), 'summary'],
      }
      const jest = (env: Record<string, string>) => {
        const run = runJest(dir, config, env)
        return `${run.stdout}${run.stderr}`
      }
      const quiet = jest({ TOKENSTASH_TEST_CONSOLE: '' })
      expect(quiet).toContain('LOUD-MARK')
      expect(quiet).not.toContain('QUIET-MARK')
      expect(quiet).toContain('console: 1 line of passing test files not shown')
      expect(quiet).toContain('Tests:       1 failed, 1 passed, 2 total')
      const all = jest({ TOKENSTASH_TEST_CONSOLE: 'all' })
      expect(all).toContain('QUIET-MARK')
      expect(all).toContain('LOUD-MARK')
    })
  })
})
