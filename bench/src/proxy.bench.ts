// @tokenstash/proxy: cached-token throughput and p99 latency, measured with autocannon side by side
// in one run against (1) a minimal node:http server answering a constant token-sized JSON body —
// the ceiling for any Node proxy on this machine — and (2) the upstream token endpoint directly
// (the embedded oidc-provider, which mints and signs a JWT per request). Each server runs in its
// own worker thread (its own event loop), autocannon in the main thread; the proxy is the built
// package, memory only, warmed with one request, so every measured request is a cache hit.
//
// Run: node scripts/run-ts.mjs bench/src/proxy.bench.ts
import { cpus, loadavg } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import autocannon from 'autocannon'
import { startServers } from '../../test/support/servers'

const ROUNDS = 3
const SECONDS = 4
const WARMUP_SECONDS = 2
const CONNECTIONS = 16
const out = (line = '') => process.stdout.write(`${line}\n`)
const fmt = (x: number) => Math.round(x).toLocaleString('en-US')
const benchDir = join(dirname(fileURLToPath(import.meta.url)), '..')
// The worker loads the built proxy (CommonJS), the way a user's server would; `npm run bench` builds it.
const proxyEntry = join(benchDir, '..', 'packages', 'proxy', 'dist', 'index.cjs')

// Plain JavaScript so the workers need no TypeScript loader.
const CEILING = `
const { createServer } = require('node:http')
const { parentPort, workerData } = require('node:worker_threads')
const body = workerData.body
const length = String(Buffer.byteLength(body))
const server = createServer((req, res) => {
  req.resume()
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json;charset=UTF-8', 'cache-control': 'no-store', pragma: 'no-cache', 'content-length': length })
    res.end(body)
  })
})
server.keepAliveTimeout = 60000
server.listen(0, '127.0.0.1', () => parentPort.postMessage({ url: 'http://127.0.0.1:' + server.address().port }))
parentPort.on('message', (m) => { if (m === 'stop') server.close(() => process.exit(0)) })
`
const PROXY = `
const { parentPort, workerData } = require('node:worker_threads')
const { createTokenProxy } = require(workerData.entry)
const proxy = createTokenProxy({ upstream: workerData.upstream, hmacKey: workerData.hmacKey })
proxy.listen(0).then(({ url, server }) => {
  server.keepAliveTimeout = 60000
  parentPort.postMessage({ url })
})
parentPort.on('message', (m) => { if (m === 'stop') proxy.close().then(() => process.exit(0)) })
`

function startWorker(code: string, workerData: unknown): Promise<{ url: string; worker: Worker }> {
  const worker = new Worker(code, { eval: true, workerData })
  return new Promise((resolve, reject) => {
    worker.once('message', ({ url }) => resolve({ url, worker }))
    worker.once('error', reject)
  })
}

interface Result {
  rps: number
  p99: number
  non2xx: number
}

async function load(
  url: string,
  headers: Record<string, string>,
  body: string,
  seconds = SECONDS,
): Promise<Result> {
  const r = await autocannon({
    url,
    method: 'POST',
    headers,
    body,
    connections: CONNECTIONS,
    duration: seconds,
  })
  return { rps: r.requests.average, p99: r.latency.p99, non2xx: r.non2xx + r.errors }
}

out(`machine: ${cpus().length} × ${cpus()[0]?.model.trim()}, node ${process.version}`)
out(
  `load average at start: ${loadavg()
    .map((l) => l.toFixed(2))
    .join(', ')}`,
)
const servers = await startServers({ issuer: { accessTokenTtlSeconds: 3_600 } })
const { issuer } = servers
const { clientId, clientSecret } = issuer.clients.basic
const headers = {
  'content-type': 'application/x-www-form-urlencoded',
  authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`,
}
const body = 'grant_type=client_credentials&scope=read'
const workers: Worker[] = []
try {
  const proxy = await startWorker(PROXY, {
    entry: proxyEntry,
    upstream: issuer.tokenEndpoint,
    hmacKey: Buffer.alloc(32, 7).toString('base64'),
  })
  workers.push(proxy.worker)
  const warm = await fetch(`${proxy.url}/oauth2/token`, { method: 'POST', headers, body })
  const tokenAnswer = await warm.text()
  if (warm.status !== 200) throw new Error(`proxy warm-up answered ${warm.status}: ${tokenAnswer}`)
  const ceiling = await startWorker(CEILING, { body: tokenAnswer })
  workers.push(ceiling.worker)

  const targets: [string, string][] = [
    ['node:http constant body (ceiling)', `${ceiling.url}/oauth2/token`],
    ['tokenstash-proxy, cached token', `${proxy.url}/oauth2/token`],
    ['upstream directly (oidc-provider)', issuer.tokenEndpoint],
  ]
  // Warm-up, not measured: the JIT and the sockets of each target get going first.
  for (const [, url] of targets) await load(url, headers, body, WARMUP_SECONDS)
  const rounds: Result[][] = []
  for (let round = 0; round < ROUNDS; round++) {
    const results: Result[] = []
    // Rotated, so the target that runs first (JIT, sockets) changes per round.
    const order = targets.map((_, i) => (i + round) % targets.length)
    for (const i of order) results[i] = await load(targets[i]![1], headers, body)
    rounds.push(results)
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
  out(
    `\nPOST token requests, ${CONNECTIONS} connections, ${SECONDS} s per target, median of ${ROUNDS} rounds (order rotated)`,
  )
  for (const [i, [name]] of targets.entries()) {
    const rps = median(rounds.map((r) => r[i]!.rps))
    const p99 = median(rounds.map((r) => r[i]!.p99))
    const ratio = median(rounds.map((r) => r[i]!.rps / r[0]!.rps))
    const failed = rounds.reduce((n, r) => n + r[i]!.non2xx, 0)
    out(
      `  ${name.padEnd(36)} ${fmt(rps).padStart(7)} req/s   p99 ${String(p99).padStart(4)} ms   ` +
        `${ratio.toFixed(2)}× the ceiling${failed ? `   (${failed} non-2xx or errors)` : ''}`,
    )
  }
  const proxyVsUpstream = median(rounds.map((r) => r[1]!.rps / r[2]!.rps))
  out(`\nproxy vs upstream: ${proxyVsUpstream.toFixed(1)}× the throughput`)
  out(
    `token requests the upstream saw from the proxy: 1 (warm-up); total at the upstream: ${await issuer.tokenRequests()}`,
  )
} finally {
  for (const w of workers) await w.terminate()
  await servers.stop()
}
