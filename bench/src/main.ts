// `pnpm bench`: runs every bench/src/*.bench.ts in its own process, one after the other (never
// in parallel: the machines are shared and small), and prints what each measured.
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..', '..')
const only = process.argv.slice(2)
const files = readdirSync(here)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort()
let failed = 0
for (const f of files) {
  process.stdout.write(`\n=== ${f}\n`)
  const r = spawnSync(process.execPath, [join(root, 'scripts', 'run-ts.mjs'), join(here, f)], {
    stdio: 'inherit',
  })
  if (r.status !== 0) failed++
}
process.exit(failed ? 1 : 0)
