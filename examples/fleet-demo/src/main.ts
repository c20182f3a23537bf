// `npm run demo`: one simulated Lambda function, the same stream of invocations replayed through
// five ways of getting its OAuth2 token, everything measured at the servers. On loopback: a real
// OAuth2 server (oidc-provider, counting token requests per client), dynalite (the DynamoDB API),
// Redis when asked, and a protected API that verifies every JWT through the issuer's JWKS. The
// containers are worker threads running src/handler.ts (Middy, axios with attachToken); they
// cold-start, scale out in bursts, are reaped when idle and recycled with age, as Lambda's are.
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { clientCredentials, createTokenProvider, memoryStore } from '@tokenstash/core'
import { createWarmer } from '@tokenstash/warmer'
import { connectStore } from '../../../test/support/fleet'
import { mulberry32 } from '../../../test/support/prng'
import { startServers } from '../../../test/support/servers'
import { bundleHandler } from './bundle'
import { startFleet } from './fleet'
import {
  cells,
  elapsed,
  markdownTable,
  progressFilter,
  type Row,
  svgChart,
  targetLines,
  terminalTable,
} from './report'
import { LABELS, STRATEGIES, type Strategy } from './strategies'
import { makeTraffic } from './traffic'

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..', '..', '..')
// test/support finds dynalite and the issuer's dependencies from the repository root.
process.chdir(root)

/** Amazon Cognito's first-tier price for M2M token requests, USD per 1,000 (see the README). */
const DEFAULT_PRICE = 2.25
const STORES = ['dynamodb', 'redis', 'memory'] as const

const flags = new Map(
  process.argv.slice(2).map((a) => {
    const [k, ...v] = a.replace(/^--/, '').split('=')
    return [k!, v.join('=')] as const
  }),
)
const KNOWN = [
  'containers',
  'invocations',
  'lifetime',
  'store',
  'duration',
  'price',
  'results',
  'seed',
  'strategies',
]
for (const k of flags.keys()) {
  if (!KNOWN.includes(k)) {
    process.stderr.write(`unknown flag --${k}; known: ${KNOWN.map((f) => `--${f}`).join(', ')}\n`)
    process.exit(2)
  }
}
function num(name: string, fallback: number, min: number): number {
  const raw = flags.get(name)
  const value = raw === undefined ? fallback : Number(raw)
  if (!Number.isFinite(value) || value < min) {
    process.stderr.write(`--${name} must be a number >= ${min}, got ${JSON.stringify(raw)}\n`)
    process.exit(2)
  }
  return value
}
const CONTAINERS = Math.floor(num('containers', 8, 1))
const INVOCATIONS = Math.floor(num('invocations', 600, 1))
const LIFETIME_S = Math.floor(num('lifetime', 4, 2))
const DURATION_S = num('duration', 12, 1)
const PRICE = num('price', DEFAULT_PRICE, 0)
const SEED = Math.floor(num('seed', 1, 0))
const STORE = (flags.get('store') ?? 'dynamodb') as (typeof STORES)[number]
const RESULTS = resolve(flags.get('results') ?? join(root, 'examples', 'fleet-demo', 'results'))
const RUN = (flags.get('strategies')?.split(',') ?? [...STRATEGIES]) as Strategy[]
if (!STORES.includes(STORE) || RUN.some((s) => !STRATEGIES.includes(s))) {
  process.stderr.write(
    `--store is one of ${STORES.join(', ')}; --strategies a list of ${STRATEGIES.join(', ')}\n`,
  )
  process.exit(2)
}

const out = (line = '') => process.stdout.write(`${line}\n`)
const TOKEN_TABLE = 'tokenstash-demo'
const BLOG_TABLE = 'blog-tokens'

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}

async function main(): Promise<number> {
  const stops: Array<() => Promise<void>> = []
  try {
    const [servers, bundle] = await Promise.all([
      startServers({
        issuer: { accessTokenTtlSeconds: LIFETIME_S },
        dynamo: { tables: [TOKEN_TABLE, { name: BLOG_TABLE, partitionKey: 'token' }] },
        redis: STORE === 'redis',
        api: true,
      }),
      bundleHandler(),
    ])
    stops.push(servers.stop)
    const { issuer, dynamo, api } = servers
    const redis = STORE === 'redis' ? servers.redis : undefined
    const client = issuer.clients.basic

    out('tokenstash fleet demo: one Lambda function, the same invocations through five token strategies')
    out(`  OAuth2 server   oidc-provider at ${issuer.issuer}, JWT access tokens that live ${LIFETIME_S} s`)
    out(`  protected API   ${api.url}, verifies every JWT through the JWKS (signature, audience, exp)`)
    out(
      `  shared store    ${STORE === 'dynamodb' ? `DynamoDB API (dynalite) at ${dynamo.endpoint}` : STORE === 'redis' ? `redis-server at ${redis!.url}` : "a memoryStore in the demo's main thread"}; the blog approach always uses DynamoDB`,
    )
    out(
      `  traffic         ${INVOCATIONS} invocations over ${DURATION_S} s per strategy, up to ${CONTAINERS} containers (worker threads), bursts, idle reaping`,
    )
    out()

    /** The warmer of "tokenstash + warmer": a round every eighth of the lifetime, a round of margin. */
    const startWarmer = () => {
      const intervalMs = (LIFETIME_S * 1000) / 8
      const { store, close } =
        STORE === 'memory'
          ? { store: sharedMemory ?? memoryStore(), close: () => {} }
          : connectStore(servers, STORE === 'dynamodb' ? 'dynamo' : 'redis', TOKEN_TABLE)
      const provider = createTokenProvider({
        source: clientCredentials({
          tokenEndpoint: issuer.tokenEndpoint,
          clientId: client.clientId,
          clientSecret: client.clientSecret,
          audience: issuer.audience,
        }),
        store,
        encryptionKey,
        storeTimeoutMs: 5_000,
        // The warmer and the containers run on this one host clock, as the handler's providers say.
        clockSkewToleranceMs: 0,
      })
      const { warm } = createWarmer({
        providers: { api: provider },
        intervalMs,
        marginMs: intervalMs,
        logger: false,
      })
      let stopped = false
      const first = warm()
      const loop = (async () => {
        await first
        while (!stopped) {
          await new Promise((r) => setTimeout(r, intervalMs))
          if (!stopped) await warm()
        }
      })()
      return {
        first,
        stop: async () => {
          stopped = true
          await loop
          close()
        },
      }
    }

    const encryptionKey = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64')
    const durationMs = DURATION_S * 1000
    const traffic = makeTraffic({ invocations: INVOCATIONS, durationMs, burst: CONTAINERS, seed: SEED })
    const sharedMemory = STORE === 'memory' ? memoryStore() : undefined
    const rows: Row[] = []
    const tty = process.stdout.isTTY

    for (const strategy of RUN) {
      await issuer.resetCounts()
      api.reset()
      const fleet = startFleet({
        bundle,
        env: {
          AWS_LAMBDA_FUNCTION_NAME: 'fleet-demo',
          AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: '1',
          DEMO_STRATEGY: strategy,
          DEMO_STORE: STORE,
          TOKEN_ENDPOINT: issuer.tokenEndpoint,
          CLIENT_ID: client.clientId,
          CLIENT_SECRET: client.clientSecret,
          API_AUDIENCE: issuer.audience,
          API_URL: api.url,
          DYNAMODB_ENDPOINT: dynamo.endpoint,
          TOKEN_TABLE,
          BLOG_TABLE,
          REDIS_URL: redis?.url ?? '',
          ENCRYPTION_KEY: encryptionKey,
        },
        maxContainers: CONTAINERS,
        // Shorter than the quiet spell, so it empties the fleet; recycling spreads over the run.
        idleMs: 0.08 * durationMs,
        maxAgeMs: [0.3 * durationMs, 0.6 * durationMs],
        sharedMemory,
        random: mulberry32(SEED + 7),
      })
      // "tokenstash + warmer": @tokenstash/warmer runs beside the fleet (here in the demo's main
      // thread, in production a scheduled Lambda), with a provider built like the containers'. Its
      // first round completes before the first invocation, as a deployed schedule's would.
      const warmer = strategy === 'tokenstash-warmer' ? startWarmer() : undefined
      await warmer?.first
      const started = Date.now()
      const latencies: number[] = []
      let done = 0
      let failed = 0
      const worthPrinting = progressFilter()
      const progress = async () => {
        const { live, started: cold } = fleet.size()
        const tokenRequests = await issuer.tokenRequests(client.clientId)
        if (!worthPrinting({ invocations: done, tokenRequests, containers: cold })) return
        const t = ((Date.now() - started) / 1000).toFixed(0).padStart(3)
        const line = `  ${LABELS[strategy].padEnd(22)} t=${t}s  invocations ${String(done).padStart(6)}  containers ${String(live).padStart(2)} live, ${String(cold).padStart(3)} cold starts  token requests ${String(tokenRequests).padStart(5)}`
        process.stdout.write(tty ? `\r${line}` : `${line}\n`)
      }
      const ticker = setInterval(() => void progress(), tty ? 500 : 3_000)
      const runs = traffic.map(async (at, i) => {
        const wait = started + at - Date.now()
        if (wait > 0) await new Promise((r) => setTimeout(r, wait))
        const result = await fleet.invoke(String(i))
        done++
        if (result.ms !== undefined) latencies.push(result.ms)
        if (!result.ok || result.response.statusCode !== 200) failed++
      })
      await Promise.all(runs)
      const runtimeMs = Date.now() - started
      await warmer?.stop()
      clearInterval(ticker)
      await progress()
      if (tty) out()
      await fleet.stop()
      const log = await issuer.tokenRequestLog()
      const requests = log.filter((r) => r.clientId === client.clientId)
      const stats = fleet.stats()
      latencies.sort((a, b) => a - b)
      rows.push({
        strategy,
        runtimeMs,
        invocations: traffic.length,
        tokenRequests: requests.length,
        requestTimes: requests.map((r) => r.at - started).sort((a, b) => a - b),
        storeReads: stats.reads ?? 0,
        storeWrites: stats.writes ?? 0,
        p50Ms: percentile(latencies, 50),
        p99Ms: percentile(latencies, 99),
        failed,
        expiredServed: api.log().filter((r) => r.path.startsWith(`/${strategy}/`) && r.verdict === 'expired')
          .length,
        containersStarted: fleet.size().started,
        waitedOnIdp: stats.waitedOnIdp ?? 0,
      })
    }

    const table = cells(rows, PRICE)
    out()
    for (const line of terminalTable(table)) out(`  ${line}`)
    out()
    out(
      `  cost: token requests per second of this run, for 30 days, at $${PRICE} per 1,000 token requests (--price; default: Amazon Cognito M2M, see README)`,
    )
    const ours = rows.find((r) => r.strategy === 'tokenstash')
    let ok = true
    if (ours) {
      const others = rows.filter((r) => r !== ours)
      for (const line of targetLines(ours, LIFETIME_S)) out(`  ${line}`)
      for (const r of others)
        out(
          `    ${(r.tokenRequests / Math.max(1, ours.tokenRequests)).toFixed(1).padStart(6)}× fewer than ${LABELS[r.strategy]} (${r.tokenRequests})`,
        )
      ok = ours.expiredServed === 0 && ours.failed === 0
      if (!ok)
        out(
          `  FAILED: tokenstash served ${ours.expiredServed} expired tokens, ${ours.failed} invocations failed`,
        )
    }
    const warmed = rows.find((r) => r.strategy === 'tokenstash-warmer')
    if (warmed) {
      out(
        `  tokenstash + warmer: ${warmed.waitedOnIdp} invocations waited on the IdP (tokenstash alone: ${ours?.waitedOnIdp ?? '-'}), for ${warmed.tokenRequests} token requests (a round every ${LIFETIME_S / 8} s)`,
      )
      const fine = warmed.waitedOnIdp === 0 && warmed.expiredServed === 0 && warmed.failed === 0
      if (!fine)
        out(
          `  FAILED: with the warmer ${warmed.waitedOnIdp} invocations waited on the IdP, ${warmed.expiredServed} expired tokens served, ${warmed.failed} failed`,
        )
      ok &&= fine
    }

    mkdirSync(RESULTS, { recursive: true })
    const md = join(RESULTS, 'fleet-demo.md')
    const svg = join(RESULTS, 'token-requests.svg')
    writeFileSync(
      md,
      [
        '# tokenstash fleet demo',
        '',
        `${new Date().toISOString()}, node ${process.version}; ${INVOCATIONS} invocations over ${DURATION_S} s per strategy, up to ${CONTAINERS} containers, tokens that live ${LIFETIME_S} s, store ${STORE}, price $${PRICE} per 1,000 token requests.`,
        '',
        ...markdownTable(table),
        '',
        `![token requests over time](token-requests.svg)`,
        '',
      ].join('\n'),
    )
    writeFileSync(svg, svgChart(rows))
    const json = join(RESULTS, 'fleet-demo.json')
    const settings = {
      invocations: INVOCATIONS,
      durationS: DURATION_S,
      containers: CONTAINERS,
      lifetimeS: LIFETIME_S,
      store: STORE,
      pricePer1000: PRICE,
    }
    writeFileSync(json, `${JSON.stringify({ settings, rows }, null, 2)}\n`)
    out()
    const show = (file: string) => (relative(root, file).startsWith('..') ? file : relative(root, file))
    out(`  results: ${show(md)} and ${show(svg)}`)
    out(
      `  elapsed: ${elapsed(performance.now())} in all since the demo started (${RUN.length} × ${DURATION_S} s of traffic, plus starting the servers, bundling the handler and draining each fleet)`,
    )
    return ok ? 0 : 1
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => {})
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`demo failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
    process.exit(1)
  },
)
