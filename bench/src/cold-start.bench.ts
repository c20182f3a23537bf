// Lambda cold start: each handler in src/lambda bundled as one deploys it (esbuild, minified, ESM,
// the AWS SDK left external because the Node.js runtime provides it), then its size and the time a
// fresh Node process takes to import it (the init phase before the first invocation), median of
// RUNS processes, the handlers interleaved. The token is not fetched: prefetch is off, so only
// loading and module initialisation are timed. Packages resolve as a user's install does (package
// exports, the built `dist`), not through the repo's TypeScript paths: run after the build.
import { execFileSync } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { build } from 'esbuild'
import { LAMBDA_BUNDLE } from '../../test/support/lambda-bundle'
import { fmt, machine, median } from './rounds'

const RUNS = 15
const here = dirname(fileURLToPath(import.meta.url))
const outdir = join(here, '..', '.build')
const out = (line = '') => process.stdout.write(`${line}\n`)

const HANDLERS: Array<[string, string]> = [
  ['empty', 'bare handler, no dependency (baseline)'],
  ['middy-empty', '@middy/core, empty handler'],
  ['tokenstash', 'tokenstash: core + middy + DynamoDB store'],
  ['tokenstash-memory', 'tokenstash: core + middy, memory only'],
  ['middy-util', '@middy/util processCache + fetch'],
  ['powertools', 'Powertools parameters BaseProvider + fetch'],
]

out(machine())
mkdirSync(outdir, { recursive: true })
const sizes = new Map<string, { bytes: number; core: number }>()
for (const [name] of HANDLERS) {
  const result = await build({
    entryPoints: [join(here, 'lambda', `${name}.ts`)],
    outfile: join(outdir, `${name}.mjs`),
    ...LAMBDA_BUNDLE,
    metafile: true,
    logLevel: 'error',
    // No `paths`: @tokenstash/* come from node_modules as published (package exports, dist).
    tsconfigRaw: '{}',
  })
  const output = Object.values(result.metafile.outputs)[0]!
  const core = Object.entries(output.inputs)
    .filter(([file]) => file.includes('packages/core/'))
    .reduce((sum, [, input]) => sum + input.bytesInOutput, 0)
  sizes.set(name, { bytes: output.bytes, core })
}

const times = new Map<string, number[]>(HANDLERS.map(([name]) => [name, []]))
for (let run = 0; run < RUNS; run++) {
  for (let k = 0; k < HANDLERS.length; k++) {
    const [name] = HANDLERS[(k + run) % HANDLERS.length]!
    const url = pathToFileURL(join(outdir, `${name}.mjs`)).href
    const ms = execFileSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const s = process.hrtime.bigint(); await import(${JSON.stringify(url)}); process.stdout.write(String(Number(process.hrtime.bigint() - s) / 1e6))`,
      ],
      { encoding: 'utf8', env: { ...process.env, AWS_REGION: 'eu-west-1', NODE_NO_WARNINGS: '1' } },
    )
    times.get(name)!.push(Number(ms))
  }
}

out(
  `\ncold start of a Lambda handler: bundle (esbuild --minify, AWS SDK external) and init time (median of ${RUNS} processes)`,
)
out(`  ${'handler'.padEnd(44)} ${'bundle'.padStart(10)} ${'of it core'.padStart(10)} ${'init'.padStart(9)}`)
for (const [name, label] of HANDLERS) {
  const { bytes, core } = sizes.get(name)!
  out(
    `  ${label.padEnd(44)} ${`${fmt(bytes)} B`.padStart(10)} ${`${fmt(core)} B`.padStart(10)} ${`${median(times.get(name)!).toFixed(1)} ms`.padStart(9)}`,
  )
}
const lean = sizes.get('tokenstash-memory')!.bytes
const init = (name: string) => median(times.get(name)!)
const over = init('tokenstash-memory') - init('empty')
out(
  `  core + middy, memory only: ${fmt(lean)} B (target <= 35,000: ${lean <= 35_000 ? 'met' : 'missed'}); init ${over.toFixed(1)} ms over the bare handler (target <= 4: ${over <= 4 ? 'met' : 'missed'}), of which @middy/core alone ${(init('middy-empty') - init('empty')).toFixed(1)} ms`,
)
const ours = sizes.get('tokenstash')!.bytes
out(
  `  tokenstash + DynamoDB store bundle: ${fmt(ours)} B = ${(ours / 1024).toFixed(1)} KiB (target <= 60 KB: ${ours <= 60_000 ? 'met' : 'missed'})`,
)
