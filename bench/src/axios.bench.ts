// @tokenstash/axios: what attachToken adds to each request, measured side by side in one run against
// the same axios request with a static Authorization header. The provider is the real one
// (createTokenProvider + clientCredentials) with its token fetched once from the embedded OAuth2
// server, so every request below is served from memory. The API is a plain node:http server on
// loopback in a worker thread (its own core), answering a small JSON body; it counts requests that
// arrived without a bearer token, which must be none. A second pass answers the same requests with
// an in-process adapter, to show the interceptor's own cost without the network's noise.
//
// Run: node scripts/run-ts.mjs bench/src/axios.bench.ts
import { cpus, loadavg } from 'node:os'
import { Worker } from 'node:worker_threads'
import { attachToken } from '@tokenstash/axios'
import { clientCredentials, createTokenProvider } from '@tokenstash/core'
import axios, { type AxiosAdapter, type AxiosInstance } from 'axios'
import axiosRetry from 'axios-retry'
import { Bench } from 'tinybench'
import { startServers } from '../../test/support/servers'

const ROUNDS = 9
const out = (line = '') => process.stdout.write(`${line}\n`)
const fmt = (x: number) => Math.round(x).toLocaleString('en-US')

// Plain JavaScript so the worker needs no TypeScript loader.
const SERVER = `
const { createServer } = require('node:http')
const { parentPort } = require('node:worker_threads')
let withToken = 0, withoutToken = 0
const body = JSON.stringify({ id: 42, status: 'shipped', items: [{ sku: 'A-1', qty: 2 }] })
const server = createServer((req, res) => {
  if ((req.headers.authorization || '').startsWith('Bearer ')) withToken++; else withoutToken++
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
  res.end(body)
})
server.keepAliveTimeout = 60000
server.listen(0, '127.0.0.1', () => parentPort.postMessage({ port: server.address().port }))
parentPort.on('message', (m) => {
  if (m === 'counts') parentPort.postMessage({ withToken, withoutToken })
  if (m === 'stop') server.close(() => process.exit(0))
})
`

function ask<T>(worker: Worker, message?: string): Promise<T> {
  return new Promise((resolve) => {
    worker.once('message', resolve)
    if (message) worker.postMessage(message)
  })
}

out(`machine: ${cpus().length} × ${cpus()[0]?.model.trim()}, node ${process.version}, axios ${axios.VERSION}`)
// Other work on a small machine moves these numbers; the load says how much there was.
out(
  `load average at start: ${loadavg()
    .map((l) => l.toFixed(2))
    .join(', ')}`,
)
const worker = new Worker(SERVER, { eval: true })
const { port } = await ask<{ port: number }>(worker)
const baseURL = `http://127.0.0.1:${port}`
const servers = await startServers({ issuer: { accessTokenTtlSeconds: 3_600 } })
const { issuer } = servers
try {
  const { clientId, clientSecret, authMethod } = issuer.clients.basic
  const provider = createTokenProvider({
    source: clientCredentials({ tokenEndpoint: issuer.tokenEndpoint, clientId, clientSecret, authMethod }),
  })
  const token = await provider.getToken()

  // The same instance options everywhere; only how the token gets there differs.
  const variants = (adapter?: AxiosAdapter): ReadonlyArray<readonly [string, AxiosInstance]> => {
    const make = () => axios.create({ baseURL, ...(adapter ? { adapter } : {}) })
    const staticHeader = make()
    staticHeader.defaults.headers.common.Authorization = `Bearer ${token}`
    const staticWithRetry = make()
    staticWithRetry.defaults.headers.common.Authorization = `Bearer ${token}`
    axiosRetry(staticWithRetry)
    const attached = make()
    attachToken(attached, provider)
    const attachedNoRetry = make()
    attachToken(attachedNoRetry, provider, { retry: false })
    return [
      ['static Authorization header', staticHeader],
      ['static header + axios-retry', staticWithRetry],
      ['attachToken (default, with retry)', attached],
      ['attachToken, retry: false', attachedNoRetry],
    ]
  }

  async function measure(
    title: string,
    tasks: ReadonlyArray<readonly [string, AxiosInstance]>,
  ): Promise<void> {
    for (const [, instance] of tasks) await instance.get('/orders/42')
    // Each round starts with a different task: whichever runs first in a round pays for warming up
    // sockets and the JIT, which would otherwise be charged to the same task every time.
    const rounds: number[][] = []
    for (let round = 0; round < ROUNDS; round++) {
      const bench = new Bench({ time: 1_000, warmupTime: 200 })
      const order = tasks.map((_, i) => (i + round) % tasks.length)
      for (const i of order) {
        const [name, instance] = tasks[i]!
        bench.add(name, async () => {
          await instance.get('/orders/42')
        })
      }
      await bench.run()
      const byName = new Map(bench.tasks.map((t) => [t.name, t.result!.throughput.mean]))
      rounds.push(tasks.map(([name]) => byName.get(name)!))
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
    const perTask = tasks.map((_, i) => median(rounds.map((r) => r[i]!)))
    const ratios = tasks.map((_, i) => median(rounds.map((r) => r[i]! / r[0]!)))
    out(`\n${title}, requests/s (median of ${ROUNDS} rounds of 1 s per task, order rotated per round)`)
    // The target compares like with like: attachToken retries too, so its peer is a static header
    // with axios-retry (task 1); per-round ratios again.
    const withRetry = median(rounds.map((r) => r[2]! / r[1]!))
    out(
      `  attachToken / (static header + axios-retry): ${withRetry.toFixed(3)} (target >= ${(1 / 1.05).toFixed(3)}, i.e. within 1.05×)`,
    )
    for (const [i, [name]] of tasks.entries()) {
      // From the per-round ratio, which cancels the load that moves both tasks of a round alike.
      const costUs = ((1 / ratios[i]! - 1) / perTask[0]!) * 1e6
      out(
        `  ${name.padEnd(36)} ${fmt(perTask[i]!).padStart(8)} req/s   ratio to static ${ratios[i]!.toFixed(3)}` +
          (i === 0 ? '' : `   ${costUs >= 0 ? '+' : ''}${costUs.toFixed(1)} µs per request`),
      )
    }
  }

  await measure('sequential GETs to the loopback API', variants())
  // The same requests answered by an in-process adapter: no socket, no server, so what remains is
  // axios itself and the interceptors, the part attachToken adds to.
  const inProcess: AxiosAdapter = async (config) => ({
    data: { id: 42 },
    status: 200,
    statusText: 'OK',
    headers: {},
    config,
  })
  await measure(
    'the same requests through an in-process adapter (interceptor cost alone)',
    variants(inProcess),
  )

  const counts = await ask<{ withToken: number; withoutToken: number }>(worker, 'counts')
  const tokenRequests = await issuer.tokenRequests()
  out(`\nAPI saw ${fmt(counts.withToken)} requests with a bearer token, ${counts.withoutToken} without`)
  out(`token requests at the OAuth2 server: ${tokenRequests} (the one that warmed the provider)`)
  if (counts.withoutToken !== 0 || tokenRequests !== 1) {
    out('FAILED: a request went without a token, or the warm provider reached the token endpoint')
    process.exitCode = 1
  }
} finally {
  worker.postMessage('stop')
  await servers.stop()
}
