#!/usr/bin/env node
// `npm run check:packages`: packs every packages/* as npm would publish it and checks the tarball
// offline: LICENSE, README.md and package.json in it, publint (no suggestion, warning or error) and
// Are the Types Wrong (every entry point resolves to the right types under node10, node16 CJS and
// ESM, and bundler resolution). Prints one line per package; with --json, one JSON document
// `[{ dir, name, files, publint: [...], attw: [...] }]`. Exits non-zero on any problem.
// The packages must be built first (`npm run build`). Nothing here reaches the network.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as attw from '@arethetypeswrong/core'
import { publint } from 'publint'
import { formatMessage } from 'publint/utils'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const npmCli = process.env.npm_execpath?.endsWith('npm-cli.js') ? process.env.npm_execpath : undefined

/** Every published package: each folder under packages/ with a package.json that is not private. */
export function publishedPackages() {
  return readdirSync(join(root, 'packages'))
    .filter((dir) => existsSync(join(root, 'packages', dir, 'package.json')))
    .filter((dir) => !JSON.parse(readFileSync(join(root, 'packages', dir, 'package.json'), 'utf8')).private)
    .sort()
}

/** `npm pack` of every folder at once (one npm start): `{ [dir]: { tarball, files } }`. */
function packAll(dirs, dest) {
  const args = [
    'pack',
    ...dirs.map((d) => `./packages/${d}`),
    '--pack-destination',
    dest,
    '--json',
    '--ignore-scripts',
  ]
  const opts = { cwd: root, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }
  const out = npmCli
    ? execFileSync(process.execPath, [npmCli, ...args], opts)
    : execFileSync('npm', args, opts)
  const infos = JSON.parse(out)
  return Object.fromEntries(
    dirs.map((dir, i) => [
      dir,
      { tarball: join(dest, infos[i].filename), files: infos[i].files.map((f) => f.path).sort() },
    ]),
  )
}

async function check(dir, { tarball, files }) {
  const pkg = JSON.parse(readFileSync(join(root, 'packages', dir, 'package.json'), 'utf8'))
  const data = readFileSync(tarball)
  // From the tarball alone (its root is `package/`): what users get, not the work tree.
  const lint = await publint({
    pack: { tarball: data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) },
    level: 'suggestion',
    strict: true,
  })
  const publintMessages = lint.messages.map(
    (m) => `${m.type}: ${formatMessage(m, lint.pkg, { color: false }) ?? m.code}`,
  )
  // Are the Types Wrong, in-process (@arethetypeswrong/cli's engine), strict profile: node10,
  // node16 (CJS and ESM) and bundler resolution of every entry point in `exports`.
  const analysis = await attw.checkPackage(attw.createPackageFromTarballData(new Uint8Array(data)))
  const attwProblems = analysis.types
    ? analysis.problems.map(
        (p) =>
          `${p.kind}${p.entrypoint ? ` ${p.entrypoint}` : ''}${p.resolutionKind ? ` (${p.resolutionKind})` : ''}`,
      )
    : ['the package ships no types']
  return { dir, name: pkg.name, files, publint: publintMessages, attw: attwProblems }
}

export async function checkPackages(dirs = publishedPackages()) {
  const dest = mkdtempSync(join(tmpdir(), 'tokenstash-pack-'))
  try {
    const results = []
    const packed = packAll(dirs, dest)
    for (const dir of dirs) results.push(await check(dir, packed[dir]))
    return results
  } finally {
    rmSync(dest, { recursive: true, force: true })
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const results = await checkPackages(
    process.argv.slice(2).filter((a) => !a.startsWith('--')).length
      ? process.argv.slice(2).filter((a) => !a.startsWith('--'))
      : undefined,
  )
  if (process.argv.includes('--json')) process.stdout.write(`${JSON.stringify(results)}\n`)
  let ok = true
  for (const r of results) {
    const missing = ['LICENSE', 'README.md', 'package.json'].filter((f) => !r.files.includes(f))
    const problems = [
      ...missing.map((f) => `${f} not in the tarball`),
      ...r.publint,
      ...r.attw.map((p) => `attw: ${p}`),
    ]
    ok &&= problems.length === 0
    if (!process.argv.includes('--json'))
      process.stdout.write(
        `${r.name}: ${problems.length ? problems.join('; ') : `ok (${r.files.length} files)`}\n`,
      )
  }
  process.exit(ok ? 0 : 1)
}
