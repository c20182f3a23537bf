import { execFile } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'

// The GitHub workflows cannot run here; they are checked against GitHub's workflow schema with
// @action-validator/cli (a WebAssembly build, offline) and for what they must do.
const root = join(__dirname, '..')
const dir = join(root, '.github', 'workflows')
const workflows = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f))
const validator = join(root, 'node_modules', '@action-validator', 'cli', 'cli.mjs')
const read = (name: string) => readFileSync(join(dir, name), 'utf8')

describe('GitHub workflows', () => {
  it('should have the CI and the release workflow', () => {
    expect(workflows).toEqual(expect.arrayContaining(['ci.yml', 'release.yml']))
  })

  it.each(workflows)('should validate %s against the workflow schema', async (name) => {
    const r = await promisify(execFile)(process.execPath, [validator, join(dir, name)]).catch(
      (error: { code: number; stdout: string }) => error,
    )
    expect({ name, exit: 'code' in r ? r.code : 0, out: r.stdout }).toEqual({ name, exit: 0, out: '' })
  })

  it('should reject a workflow with a misspelt key (the validator is not a no-op)', async () => {
    const bad = join(mkdtempSync(join(tmpdir(), 'tokenstash-wf-')), 'bad.yml')
    writeFileSync(bad, 'on: push\njobs:\n  x:\n    runs-on: ubuntu-24.04\n    stepz: []\n')
    await expect(promisify(execFile)(process.execPath, [validator, bad])).rejects.toMatchObject({ code: 1 })
  })

  it('should run the README test command on Node 20, 22 and 24 with Redis, plus lint and types', () => {
    const ci = read('ci.yml')
    expect(ci).toMatch(/^on:\n {2}push:[\s\S]*\n {2}pull_request:/m)
    expect(ci).toMatch(/node: \[20, 22, 24\]/)
    expect(ci).toMatch(/node-version: \$\{\{ matrix\.node \}\}/)
    expect(ci).toMatch(/apt-get install [^\n]*redis-server/)
    expect(ci).toMatch(/run: npm test\b/)
    expect(ci).toMatch(/run: pnpm run lint\n/)
    expect(ci).toMatch(/run: pnpm run typecheck\n/)
    expect(ci).toMatch(/cache: pnpm/)
    // The README documents `npm test` as the test command.
    expect(readFileSync(join(root, 'README.md'), 'utf8')).toMatch(/npm test/)
  })

  it('should release with changesets, npm provenance and an OIDC token, from main only', () => {
    const release = read('release.yml')
    expect(release).toMatch(/^on:\n {2}push:\n {4}branches: \[main\]\n/m)
    expect(release).not.toMatch(/pull_request|workflow_dispatch/)
    expect(release).toMatch(/github\.ref == 'refs\/heads\/main'/)
    expect(release).toMatch(/id-token: write/)
    expect(release).toMatch(/uses: changesets\/action@v1/)
    expect(release).toMatch(/publish: pnpm exec changeset publish/)
    expect(release).toMatch(/NPM_CONFIG_PROVENANCE: ["']true["']/)
  })
})
