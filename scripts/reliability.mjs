#!/usr/bin/env node
// `npm run test:reliability`: runs the reliability suite (fault scenarios against real servers,
// leak scan, load and lifecycle, and the property tests over hostile input), then renders
// docs/RELIABILITY.md from the figures the tests wrote to .tokenstash-tmp/reliability/.
//   --render-only   only render the doc from the figures of the last run
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const resultsDir = join(root, '.tokenstash-tmp', 'reliability')
const docPath = join(root, 'docs', 'RELIABILITY.md')

// Test files of the suite, as jest path patterns: the integration scenarios, then the property tests.
const SUITE = [
  'test/reliability/',
  // Records the issue-16 row "Documented Redis client (enableOfflineQueue: false), token at init".
  'test/middy-fleet',
  'packages/core/test/hostile-input',
  'packages/middy/test/options-fuzz',
  'packages/axios/test/options-fuzz',
]

// The order and the titles of the sections; a suite without a title is listed last under its name.
const SECTIONS = [
  ['store-faults', 'Shared store faults'],
  ['idp-faults', 'Identity provider faults and clock skew'],
  ['load', 'Load, 401 storms and the Lambda lifecycle'],
  ['lambda-lifecycle', 'Lambda lifecycle: real containers frozen with SIGSTOP'],
  ['heart', 'Lease holders, late store calls and caller deadlines (issue 16)'],
  ['leak-scan', 'Leak scan'],
]

function cell(value) {
  if (value === null || value === undefined) return '–'
  return String(value).replaceAll('|', '\\|').replaceAll('\n', ' ')
}

function table(results) {
  const head =
    '| scenario | fault | calls | failed | token requests | recovery (ms) | bad tokens served | notes |\n' +
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |'
  const rows = results.map((r) =>
    [
      r.scenario,
      r.fault,
      r.invocations.toLocaleString('en-US'),
      r.failed + (r.failedWith?.length ? ` (${r.failedWith.join(', ')})` : ''),
      r.tokenRequests,
      r.recoveryMs,
      r.badTokensServed,
      r.notes,
    ]
      .map(cell)
      .join(' | '),
  )
  return [head, ...rows.map((r) => `| ${r} |`)].join('\n')
}

// The leak guard (test/support/leak-guard.ts) writes one file per integration test file it ran.
const LEAK_COLUMNS = [
  ['console', ['console']],
  ['stdout/stderr', ['stdout', 'stderr']],
  ['events', ['event']],
  ['errors', ['error']],
  ['store keys', ['store key']],
  ['store values', ['store value', 'store value (encryption: false)']],
  ['proxy error answers', ['proxy answer']],
  ['child processes', ['child output']],
]

function leakGuard() {
  const dir = join(resultsDir, 'leak-guard')
  if (!existsSync(dir)) return 'No figures yet: run the integration tests (`npm test`).'
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')))
    // A test file deleted since its last run is not part of the suite any more.
    .filter((r) => existsSync(join(root, r.file)))
    .sort((a, b) => a.file.localeCompare(b.file))
  const sum = (r, channels) => channels.reduce((n, c) => n + (r.captured[c] ?? 0), 0)
  const n = (v) => v.toLocaleString('en-US')
  const total = (channels) => files.reduce((t, r) => t + sum(r, channels), 0)
  const leaks = files.reduce((t, r) => t + r.leaks, 0)
  const secrets = files.reduce((t, r) => t + r.secrets, 0)
  const dates = files.map((r) => r.at).sort()
  const head =
    `| file | secrets known | ${LEAK_COLUMNS.map(([title]) => title).join(' | ')} | leaks |\n` +
    `| --- | ---: | ${LEAK_COLUMNS.map(() => '---:').join(' | ')} | ---: |`
  const row = (r) =>
    `| \`${r.file}\` | ${n(r.secrets)} | ${LEAK_COLUMNS.map(([, c]) => n(sum(r, c))).join(' | ')} | ${r.leaks} |`
  const totals = `| **${files.length} files** | **${n(secrets)}** | ${LEAK_COLUMNS.map(([, c]) => `**${n(total(c))}**`).join(' | ')} | **${leaks}** |`
  const summary =
    `${files.length} test files scanned (their latest runs, ${dates[0]?.slice(0, 16).replace('T', ' ')} to ` +
    `${dates.at(-1)?.slice(0, 16).replace('T', ' ')} UTC), ${n(secrets)} secrets known, ` +
    `${n(total(['console', 'stdout', 'stderr']))} console lines and stream writes, ${n(total(['child output']))} child process outputs, ${n(total(['event']))} events, ` +
    `${n(total(['error']))} errors (each read by util.inspect with and without hidden properties, JSON.stringify and toJSON()), ${n(total(['store key']))} store keys and ` +
    `${n(total(['store value', 'store value (encryption: false)']))} store values captured: **${leaks} leaks found**.`
  return `${summary}\n\n${[head, ...files.map(row), totals].join('\n')}`
}

function render() {
  if (!existsSync(resultsDir)) {
    console.error(`No figures in ${resultsDir}: run \`npm run test:reliability\` first.`)
    process.exit(1)
  }
  const suites = new Map(
    readdirSync(resultsDir)
      .filter((f) => f.endsWith('.json'))
      .map((f) => JSON.parse(readFileSync(join(resultsDir, f), 'utf8')))
      .map((s) => [s.suite, s]),
  )
  const ordered = [
    ...SECTIONS.filter(([name]) => suites.has(name)),
    ...[...suites.keys()].filter((n) => !SECTIONS.some(([s]) => s === n)).map((n) => [n, n]),
  ]
  const latest = [...suites.values()]
    .map((s) => s.at)
    .sort()
    .at(-1)
  const node = [...suites.values()][0]?.node
  const profiles = [...new Set([...suites.values()].map((s) => s.profile ?? 'ci'))].join(' and ')
  const template = readFileSync(join(root, 'scripts', 'reliability-template.md'), 'utf8')
  const figures = ordered
    .map(([name, title]) => `### ${title}\n\n${table(suites.get(name).results)}`)
    .join('\n\n')
  const doc = template
    .replace('{{figures}}', figures)
    .replace('{{leakGuard}}', leakGuard())
    .replace('{{run}}', `${latest?.slice(0, 16).replace('T', ' ')} UTC, Node ${node}, ${profiles} profile`)
  writeFileSync(docPath, doc)
  // Formatted as `biome check` (part of npm test) wants it: aligned table columns.
  const biome = join(root, 'node_modules', '@biomejs', 'biome', 'bin', 'biome')
  const formatted = spawnSync(process.execPath, [biome, 'format', '--write', docPath], {
    cwd: root,
    stdio: 'pipe',
  })
  if (formatted.status !== 0) process.stderr.write(formatted.stderr)
  console.log(`wrote ${docPath} from ${suites.size} suites`)
}

if (!process.argv.includes('--render-only')) {
  const jest = join(root, 'node_modules', 'jest', 'bin', 'jest.js')
  const run = spawnSync(process.execPath, [jest, ...SUITE], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, TOKENSTASH_RELIABILITY: 'full' },
  })
  render()
  process.exit(run.status ?? 1)
}
render()
