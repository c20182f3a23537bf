#!/usr/bin/env node
// The Node versions the suite runs on besides the machine's own: Lambda's nodejs22.x and
// nodejs24.x. Each comes from the npm registry as the platform's `node-<os>-<arch>` package (the
// binary the `node` package's install script would fetch, without running a script), installed
// once into node_modules/.cache/tokenstash-node/<version> and reused afterwards.
//   node scripts/node-runtimes.mjs 22 scripts/run-ts.mjs examples/lambda-dynamodb/src/local/main.ts
// runs a script on Node 22 (installing it first when needed).
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, rmSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')

/** Pinned versions by major. */
export const RUNTIMES = Object.freeze({ 22: '22.23.3', 24: '24.21.0' })

/** The node binary of `version`, installed from the registry on first use. */
export function nodeBinary(version) {
  const dir = join(root, 'node_modules', '.cache', 'tokenstash-node', version)
  const pkg = `node-${process.platform}-${process.arch}`
  const bin = join(dir, 'node_modules', pkg, 'bin', process.platform === 'win32' ? 'node.exe' : 'node')
  if (!existsSync(bin)) {
    process.stderr.write(`[node] installing Node ${version} (${pkg} from the npm registry) into ${dir}\n`)
    rmSync(dir, { recursive: true, force: true })
    mkdirSync(dir, { recursive: true })
    const r = spawnSync(
      'npm',
      [
        'install',
        '--prefix',
        dir,
        '--no-save',
        '--no-package-lock',
        '--ignore-scripts',
        '--no-audit',
        '--no-fund',
        `${pkg}@${version}`,
      ],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    )
    if (r.status !== 0 || !existsSync(bin)) {
      throw new Error(`installing Node ${version} failed (npm exit ${r.status ?? r.signal})`)
    }
  }
  return bin
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [major, ...rest] = process.argv.slice(2)
  const version = RUNTIMES[major]
  if (!version || rest.length === 0) {
    process.stderr.write(
      `usage: node scripts/node-runtimes.mjs <${Object.keys(RUNTIMES).join('|')}> <script> [args]\n`,
    )
    process.exit(2)
  }
  const r = spawnSync(nodeBinary(version), rest, { cwd: process.cwd(), stdio: 'inherit' })
  process.exit(r.status ?? 1)
}
