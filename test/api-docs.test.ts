import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'

// `npm run docs` (typedoc.config.mjs) must build: every exported name of every package documented,
// every {@link} resolving, no type used in the API left unexported. Warnings are errors there, so
// the exit code is the check; the output goes to a temporary folder, not docs/api/.
const root = join(__dirname, '..')
const packages = readdirSync(join(root, 'packages')).filter((dir) =>
  existsSync(join(root, 'packages', dir, 'src', 'index.ts')),
)

describe('API reference', () => {
  it('should build with TypeDoc without a warning, with a page per package', async () => {
    const out = mkdtempSync(join(tmpdir(), 'tokenstash-api-'))
    try {
      const r = await promisify(execFile)(
        process.execPath,
        [join(root, 'node_modules', 'typedoc', 'bin', 'typedoc'), '--out', out],
        { cwd: root, env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' }, maxBuffer: 16 * 1024 * 1024 },
      ).catch((error: { code: number; stdout: string; stderr: string }) => error)
      expect({
        exit: 'code' in r ? r.code : 0,
        warnings: `${r.stdout}${r.stderr}`.match(/\[warning\].*/g) ?? [],
      }).toEqual({ exit: 0, warnings: [] })
      for (const dir of packages)
        expect([dir, existsSync(join(out, 'modules', `_tokenstash_${dir}.html`))]).toEqual([dir, true])
    } finally {
      rmSync(out, { recursive: true, force: true })
    }
  }, 180_000)
})
