#!/usr/bin/env node
// Runs a TypeScript entry point (demo, bench, examples) with tsx, from the repo's own install.
// The AWS SDK's notice about Node 20 is a deprecation warning meant for operators; it is kept out
// of demo and bench output so what they print is only what they measure.
import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const require = createRequire(join(root, 'package.json'))
const tsxCli = require.resolve('tsx/cli')
const [entry, ...rest] = process.argv.slice(2)
const r = spawnSync(
  process.execPath,
  [tsxCli, '--tsconfig', join(root, 'tsconfig.json'), resolve(entry), ...rest],
  {
    stdio: 'inherit',
    env: { ...process.env, NODE_NO_WARNINGS: '1' },
  },
)
process.exit(r.status ?? 1)
