#!/usr/bin/env node
// Runs jest on this machine's Node (the whole suite) and again on Node 22 and Node 24 (Lambda's
// nodejs22.x and nodejs24.x runtimes), then prints one closing line that sums every run:
// "tests: N passed, N failed, N skipped". Exits non-zero when any run failed.
//
// Node 22 and 24 are installed from the npm registry by scripts/node-runtimes.mjs.
//
// Three full runs do not fit the CI budget on 2 cores, so 22 and 24 run every unit project (with
// Middy 5 and Middy 7) and the integration files in RUNTIME_SUBSET: built packages loading with
// require/import, discovery and every auth method against a real issuer, the DynamoDB and Redis
// stores, the axios and fetch adapters against a JWKS-verifying API, and examples/lambda-dynamodb
// in simulated Lambda containers.
//   --current-only   only this machine's Node (the whole suite)
//   extra arguments after `--` go to every jest run
import { spawnSync } from 'node:child_process'
import { readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { nodeBinary, RUNTIMES } from './node-runtimes.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const RUNTIME_SUBSET = [
  'test/build.test.ts',
  'test/core-issuer.test.ts',
  'test/store-dynamodb.test.ts',
  'test/store-redis.test.ts',
  'test/axios-issuer.test.ts',
  'test/fetch-resource-server.test.ts',
  'test/middy-example.test.ts',
]

const argv = process.argv.slice(2)
const dash = argv.indexOf('--')
const own = dash === -1 ? argv : argv.slice(0, dash)
const passThrough = dash === -1 ? [] : argv.slice(dash + 1)
const jestBin = join(root, 'node_modules', 'jest', 'bin', 'jest.js')
/** One jest run on one Node version; the whole suite takes about 3 minutes on 2 cores. */
const RUN_TIMEOUT_MS = 20 * 60_000

function log(msg) {
  process.stderr.write(`[test] ${msg}\n`)
}

function jest(node, label, args) {
  const summary = join(tmpdir(), `tokenstash-summary-${process.pid}-${label.replace(/\W+/g, '_')}.json`)
  rmSync(summary, { force: true })
  log(`jest on ${label}`)
  const started = Date.now()
  // No --forceExit. A full run on Node 20 once spun at 100% CPU after its summary, for over 30
  // minutes, in Node's exit-time handle cleanup (FreeEnvironment -> CleanupHandles, per gdb; see
  // nodejs/node#47748): that was a run in band, every test file's sockets, servers and child
  // processes in the jest process itself. Test files now run in jest's workers (jest.config.js
  // maxWorkers), which jest ends at the close of the run and kills, saying so, when one does not
  // exit within half a second; the jest process holds only its reporters. The timeout stays as the
  // backstop: a hung run fails in minutes, not at CI's 90-minute limit.
  const r = spawnSync(node, [jestBin, ...args, ...passThrough], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, TOKENSTASH_SUMMARY_FILE: summary },
    timeout: RUN_TIMEOUT_MS,
    killSignal: 'SIGKILL',
  })
  if (r.error?.code === 'ETIMEDOUT')
    log(`jest on ${label} did not end within ${RUN_TIMEOUT_MS / 60_000} minutes: killed`)
  let counts = { passed: 0, failed: 0, skipped: 0, brokenSuites: 0, failures: [] }
  try {
    counts = JSON.parse(readFileSync(summary, 'utf8'))
  } catch {
    // jest never got to report: counted as a failed run below.
  }
  rmSync(summary, { force: true })
  const ok = r.status === 0 && counts.failed === 0 && counts.brokenSuites === 0
  return {
    label,
    ok,
    exit: r.status ?? r.signal,
    seconds: Math.round((Date.now() - started) / 1000),
    ...counts,
  }
}

const runs = [jest(process.execPath, `node ${process.versions.node}`, [])]
if (!own.includes('--current-only')) {
  for (const version of Object.values(RUNTIMES)) {
    let node
    try {
      node = nodeBinary(version)
    } catch (error) {
      log(error.message)
      process.exit(1)
    }
    // Every unit project (packages/ paths) plus the integration subset.
    runs.push(jest(node, `node ${version}`, ['--testPathPatterns', 'packages/', ...RUNTIME_SUBSET]))
  }
}

const total = { passed: 0, failed: 0, skipped: 0 }
process.stdout.write('\n')
// What failed, again, next to the closing lines: a CI that keeps only the end of the log shows it.
for (const run of runs)
  if (run.failures?.length) process.stdout.write(`failed on ${run.label}:\n${run.failures.join('\n')}\n`)
for (const run of runs) {
  for (const k of Object.keys(total)) total[k] += run[k]
  process.stdout.write(
    `${run.label}: ${run.passed} passed, ${run.failed} failed, ${run.skipped} skipped` +
      `${run.brokenSuites ? `, ${run.brokenSuites} suites failed` : ''} in ${run.seconds} s` +
      `${run.ok ? '' : ` — FAILED (jest exit ${run.exit})`}\n`,
  )
}
process.stdout.write(`tests: ${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped\n`)
process.exit(runs.every((r) => r.ok) ? 0 : 1)
