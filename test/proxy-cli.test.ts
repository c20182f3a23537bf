import { type ChildProcess, spawn } from 'node:child_process'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { exited, track } from './support/children'
import { type DynamoServer, startDynamo } from './support/dynamodb'
import { type Issuer, startIssuer } from './support/issuer'
import { leakGuard } from './support/leak-scan'
import { randomKey, requestToken } from './support/proxy-client'
import { type RedisServer, startRedis } from './support/redis'

// `tokenstash-proxy` as users run it: the built bin in a child process (`npm test` builds first).

const CLI = join(__dirname, '..', 'packages', 'proxy', 'dist', 'cli.cjs')

interface Started {
  child: ChildProcess
  url: string
  stderr: () => string
}

const running = new Set<ChildProcess>()

function run(args: string[], env: Record<string, string>): ChildProcess {
  const child = track(
    spawn(process.execPath, [CLI, ...args], {
      env: { PATH: process.env.PATH ?? '', NODE_NO_WARNINGS: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  )
  running.add(child)
  child.once('exit', () => running.delete(child))
  return child
}

async function start(args: string[], env: Record<string, string>): Promise<Started> {
  const child = run(args, env)
  let stderr = ''
  child.stderr!.on('data', (chunk) => {
    stderr += chunk
    leakGuard()?.capture('child output', String(chunk), 'tokenstash-proxy stderr')
  })
  const lines = createInterface({ input: child.stdout! })
  lines.on('line', (line) => leakGuard()?.capture('child output', line, 'tokenstash-proxy stdout'))
  const url = await new Promise<string>((resolve, reject) => {
    lines.once('line', (line) => {
      const match = /^tokenstash-proxy listening on (http:\/\/127\.0\.0\.1:\d+)$/.exec(line)
      if (match) resolve(match[1]!)
      else reject(new Error(`unexpected first line ${JSON.stringify(line)}; stderr: ${stderr}`))
    })
    child.once('exit', (code) => reject(new Error(`exited with ${code}: ${stderr}`)))
  })
  return { child, url, stderr: () => stderr }
}

async function failure(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stderr: string }> {
  const child = run(args, env)
  let stderr = ''
  child.stderr!.on('data', (chunk) => {
    stderr += chunk
    leakGuard()?.capture('child output', String(chunk), 'tokenstash-proxy stderr')
  })
  await exited(child)
  return { code: child.exitCode, stderr }
}

describe('tokenstash-proxy CLI', () => {
  let issuer: Issuer
  let redis: RedisServer
  let dynamo: DynamoServer
  const keys = { TOKENSTASH_HMAC_KEY: randomKey(), TOKENSTASH_ENCRYPTION_KEY: randomKey() }

  beforeAll(async () => {
    ;[issuer, redis, dynamo] = await Promise.all([
      startIssuer({ accessTokenTtlSeconds: 300 }),
      startRedis(),
      startDynamo(),
    ])
    await dynamo.createTable('cli-tokens')
  })
  afterEach(async () => {
    // A failed test may leave its proxy running; it must not outlive the test.
    for (const child of running) child.kill('SIGKILL')
    await Promise.all([...running].map(exited))
  })
  afterAll(async () => {
    await Promise.all([issuer?.stop(), redis?.stop(), dynamo?.stop()])
  })

  it('should answer, report health, and on SIGTERM finish the request in flight and exit 0', async () => {
    const { child, url } = await start(['--upstream', issuer.tokenEndpoint, '--port', '0'], keys)
    const client = issuer.clients.basic
    const first = await requestToken(url, { client })
    expect(first.status).toBe(200)
    expect((await requestToken(url, { client })).headers.get('cache-status')).toBe('tokenstash; hit')
    const health = await fetch(`${url}/healthz`)
    expect([health.status, await health.json()]).toEqual([200, { status: 'ok', store: 'none', keys: 1 }])

    await issuer.resetCounts()
    const slowToken = { access_token: 'opaque-in-flight', token_type: 'Bearer', expires_in: 60 }
    await issuer.failNext(1, { status: 200, body: slowToken, delayMs: 1_500 })
    const inFlight = requestToken(url, { client, scope: 'write' })
    while ((await issuer.tokenRequests()) === 0) await new Promise((r) => setTimeout(r, 20))
    child.kill('SIGTERM')

    expect((await inFlight).body).toMatchObject({ access_token: 'opaque-in-flight' })
    await exited(child)
    expect(child.exitCode).toBe(0)
  })

  it('should share tokens through --redis and --dynamodb-table and report the store reachable', async () => {
    const redisProxy = await start(
      ['--upstream', issuer.tokenEndpoint, '--port=0', '--redis', redis.url],
      keys,
    )
    const dynamoProxy = await start(
      ['--upstream', issuer.tokenEndpoint, '--port', '0', '--dynamodb-table', 'cli-tokens'],
      {
        ...keys,
        AWS_REGION: dynamo.region,
        AWS_ACCESS_KEY_ID: 'test',
        AWS_SECRET_ACCESS_KEY: 'test',
        AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
      },
    )
    try {
      for (const { url } of [redisProxy, dynamoProxy]) {
        await issuer.resetCounts()
        const miss = await requestToken(url, { client: issuer.clients.post, scope: 'read' })
        expect(miss.headers.get('cache-status')).toBe('tokenstash; fwd=miss')
        const health = await (await fetch(`${url}/healthz`)).json()
        expect(health).toMatchObject({ status: 'ok', store: 'reachable' })
        expect(await issuer.tokenRequests()).toBe(1)
      }
    } finally {
      for (const { child } of [redisProxy, dynamoProxy]) {
        child.kill('SIGINT')
        await exited(child)
      }
    }
    expect([redisProxy.child.exitCode, dynamoProxy.child.exitCode]).toEqual([0, 0])
    expect(redisProxy.stderr() + dynamoProxy.stderr()).toBe('')
  })

  it('should exit non-zero with one line naming a missing or malformed option', async () => {
    const missing = await failure(['--upstream', issuer.tokenEndpoint], {})
    expect(missing.code).not.toBe(0)
    expect(missing.stderr).toMatch(/^tokenstash-proxy: missing TOKENSTASH_HMAC_KEY[^\n]*\n$/)
    const malformed = await failure(['--upstream', issuer.tokenEndpoint, '--port', 'eighty'], keys)
    expect(malformed.code).not.toBe(0)
    expect(malformed.stderr).toMatch(/^tokenstash-proxy: malformed --port[^\n]*\n$/)
  })
})
