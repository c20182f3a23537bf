import { type ChildProcess, spawn } from 'node:child_process'
import { createServer } from 'node:http'
import { Socket } from 'node:net'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { exited, track } from './support/children'
import { leakGuard } from './support/leak-scan'
import { freePort, listenOnLoopback } from './support/ports'
import { randomKey, requestToken } from './support/proxy-client'
import { useServers } from './support/servers'

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
): Promise<{ code: number | null; stderr: string; stdout: string }> {
  const child = run(args, env)
  let stderr = ''
  let stdout = ''
  child.stderr!.on('data', (chunk) => {
    stderr += chunk
    leakGuard()?.capture('child output', String(chunk), 'tokenstash-proxy stderr')
  })
  child.stdout!.on('data', (chunk) => {
    stdout += chunk
  })
  await exited(child)
  return { code: child.exitCode, stderr, stdout }
}

/** A raw connection that sends `text` and nothing more. */
async function halfSent(url: string, text: string): Promise<Socket> {
  const socket = new Socket()
  const { port } = new URL(url)
  await new Promise<void>((resolve) => socket.connect(Number(port), '127.0.0.1', resolve))
  socket.on('error', () => undefined)
  socket.write(text)
  return socket
}

describe('tokenstash-proxy CLI', () => {
  const servers = useServers({
    issuer: { accessTokenTtlSeconds: 300 },
    redis: true,
    dynamo: { tables: ['cli-tokens'] },
  })
  const keys = { TOKENSTASH_HMAC_KEY: randomKey(), TOKENSTASH_ENCRYPTION_KEY: randomKey() }
  afterEach(async () => {
    // A failed test may leave its proxy running; it must not outlive the test.
    for (const child of running) child.kill('SIGKILL')
    await Promise.all([...running].map(exited))
  })

  it('should answer, report health, and on SIGTERM finish the request in flight and exit 0', async () => {
    const { child, url } = await start(['--upstream', servers.issuer.tokenEndpoint, '--port', '0'], keys)
    const client = servers.issuer.clients.basic
    const first = await requestToken(url, { client })
    expect(first.status).toBe(200)
    expect((await requestToken(url, { client })).headers.get('cache-status')).toBe('tokenstash; hit')
    const health = await fetch(`${url}/healthz`)
    expect([health.status, await health.json()]).toEqual([200, { status: 'ok', store: 'none', keys: 1 }])

    await servers.issuer.resetCounts()
    const slowToken = { access_token: 'opaque-in-flight', token_type: 'Bearer', expires_in: 60 }
    await servers.issuer.failNext(1, { status: 200, body: slowToken, delayMs: 1_500 })
    const inFlight = requestToken(url, { client, scope: 'write' })
    while ((await servers.issuer.tokenRequests()) === 0) await new Promise((r) => setTimeout(r, 20))
    child.kill('SIGTERM')

    expect((await inFlight).body).toMatchObject({ access_token: 'opaque-in-flight' })
    await exited(child)
    expect(child.exitCode).toBe(0)
  })

  it('should share tokens through --redis and --dynamodb-table and report the store reachable', async () => {
    const redisProxy = await start(
      ['--upstream', servers.issuer.tokenEndpoint, '--port=0', '--redis', servers.redis.url],
      keys,
    )
    const dynamoProxy = await start(
      ['--upstream', servers.issuer.tokenEndpoint, '--port', '0', '--dynamodb-table', 'cli-tokens'],
      { ...keys, ...servers.dynamo.env },
    )
    try {
      for (const { url } of [redisProxy, dynamoProxy]) {
        await servers.issuer.resetCounts()
        const miss = await requestToken(url, { client: servers.issuer.clients.post, scope: 'read' })
        expect(miss.headers.get('cache-status')).toBe('tokenstash; fwd=miss')
        const health = await (await fetch(`${url}/healthz`)).json()
        expect(health).toMatchObject({ status: 'ok', store: 'reachable' })
        expect(await servers.issuer.tokenRequests()).toBe(1)
      }
    } finally {
      for (const { child } of [redisProxy, dynamoProxy]) {
        child.kill('SIGINT')
        await exited(child)
      }
    }
    expect([redisProxy.child.exitCode, dynamoProxy.child.exitCode]).toEqual([0, 0])
    // One JSON line per token fetched and one on shutdown: nothing went wrong.
    const events = (redisProxy.stderr() + dynamoProxy.stderr())
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line))
    expect(events.map((e) => `${e.level} ${e.event}`).sort()).toEqual([
      'info fetch',
      'info fetch',
      'info stopped',
      'info stopped',
    ])
  })

  it('should say once, as a JSON line, that the store is failing, however many keys and refused clients', async () => {
    // Nothing listens there: every store call fails.
    const dead = `redis://127.0.0.1:${await freePort()}`
    const { child, url, stderr } = await start(
      ['--upstream', servers.issuer.tokenEndpoint, '--port=0', '--redis', dead],
      keys,
    )
    try {
      for (const scope of ['read', 'write', 'read write']) {
        const got = await requestToken(url, { client: servers.issuer.clients.post, scope })
        expect(got.status).toBe(200)
      }
      for (let i = 0; i < 5; i++) {
        const refused = await fetch(`${url}/oauth2/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: `grant_type=client_credentials&client_id=nobody-${i}&client_secret=x`,
        })
        expect(refused.status).toBe(401)
      }
    } finally {
      child.kill('SIGTERM')
      await exited(child)
    }
    expect(child.exitCode).toBe(0)
    const lines = stderr().trim().split('\n')
    const events = lines.map((line) => JSON.parse(line))
    // Three admitted keys, five refused clients, one outage: one warning line.
    expect(events.filter((e) => e.event === 'warning')).toEqual([
      expect.objectContaining({
        level: 'warn',
        message: expect.stringMatching(/^tokenstash: the shared store is failing/),
      }),
    ])
    expect(events.map((e) => e.event).sort()).toEqual([
      'fetch',
      'fetch',
      'fetch',
      'refused',
      'stopped',
      'warning',
    ])
    expect(stderr()).not.toContain('nobody')
  })

  it('should exit non-zero with one line naming a missing or malformed option', async () => {
    const missing = await failure(['--upstream', servers.issuer.tokenEndpoint], {})
    expect(missing.code).not.toBe(0)
    expect(missing.stderr).toMatch(/^tokenstash-proxy: missing TOKENSTASH_HMAC_KEY[^\n]*\n$/)
    const malformed = await failure(['--upstream', servers.issuer.tokenEndpoint, '--port', 'eighty'], keys)
    expect(malformed.code).not.toBe(0)
    expect(malformed.stderr).toMatch(/^tokenstash-proxy: malformed --port[^\n]*\n$/)
  })

  it('should exit 2 with one line for configuration errors, repeating no key or password', async () => {
    const hmac = keys.TOKENSTASH_HMAC_KEY
    const cases = [
      await failure(['--upstream', servers.issuer.tokenEndpoint, `--hmac-key=${hmac}`], keys),
      await failure(
        ['--upstream', servers.issuer.tokenEndpoint.replace('http://', 'http://svc:pw-hunter2@')],
        keys,
      ),
      await failure(['--upstream', 'http://idp.example.com/token'], keys),
    ]
    for (const { code, stderr } of cases) {
      expect(code).toBe(2)
      expect(stderr).toMatch(/^tokenstash-proxy: [^\n]+\n$/)
      expect(stderr).not.toContain(hmac.slice(0, 8))
      expect(stderr).not.toContain('hunter2')
    }
    const help = await failure(['--help'], {})
    expect([help.code, help.stdout]).toEqual([0, expect.stringMatching(/^usage: tokenstash-proxy/)])
    const version = await failure(['--version'], {})
    expect([version.code, version.stdout]).toEqual([0, expect.stringMatching(/^\d+\.\d+\.\d+/)])
  })

  it('should take http on any 127.x address as its upstream', async () => {
    const upstream = servers.issuer.tokenEndpoint.replace('127.0.0.1', '127.0.0.2')
    const { child } = await start(['--upstream', upstream, '--port', '0'], keys)
    child.kill('SIGTERM')
    await exited(child)
    expect(child.exitCode).toBe(0)
  })

  it('should drain and exit 0 on a SIGTERM sent the moment it reports listening', async () => {
    // A supervisor may stop the proxy as soon as it is ready. The listening line once came before
    // the signal handlers: about half such SIGTERMs killed the process by signal, undrained.
    const outcomes: (number | string | null)[] = []
    for (let i = 0; i < 8; i++) {
      const { child } = await start(['--upstream', servers.issuer.tokenEndpoint, '--port', '0'], keys)
      child.kill('SIGTERM')
      await exited(child)
      outcomes.push(child.signalCode ?? child.exitCode)
    }
    expect(outcomes).toEqual(Array(8).fill(0))
  }, 60_000)

  it('should end on SIGTERM within --drain-timeout, whatever half-sent requests hold the connections', async () => {
    const { child, url, stderr } = await start(
      ['--upstream', servers.issuer.tokenEndpoint, '--port', '0', '--drain-timeout', '1'],
      keys,
    )
    const sockets = [
      await halfSent(url, 'POST /oauth2/token HTTP/1.1\r\nhost: x\r\ncontent-ty'),
      await halfSent(
        url,
        'POST /oauth2/token HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: 135\r\n\r\ngrant_type=cl',
      ),
    ]
    // A request answered on a keep-alive connection, which then stays open and idle.
    expect((await requestToken(url, { client: servers.issuer.clients.basic })).status).toBe(200)
    child.kill('SIGTERM')
    await exited(child)
    for (const socket of sockets) socket.destroy()
    // Connections had to be closed at the deadline: not drained, exit 1; the log line says so.
    expect(child.exitCode).toBe(1)
    const lines = stderr()
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line))
    expect(lines.at(-1)).toMatchObject({ level: 'warn', event: 'stopped', signal: 'SIGTERM', drained: false })
  })

  it('should log JSON lines with no secret in any encoding, no forged line, and refusals summarised', async () => {
    // An upstream that repeats the request in its error, as some do.
    const echo = await listenOnLoopback(
      createServer((req, res) => {
        let body = ''
        req.on('data', (chunk) => {
          body += chunk
        })
        req.on('end', () => {
          const description = `${req.headers.authorization ?? ''} ${body} ${decodeURIComponent(body.replace(/\+/g, ' '))}`
          res.writeHead(401, { 'content-type': 'application/json' })
          res.end(JSON.stringify({ error: 'invalid_client', error_description: description }))
        })
      }),
    )
    const secret = 'p@ss w0rd/x\u00e9"\\'
    const forms = [
      secret,
      encodeURIComponent(secret),
      encodeURIComponent(secret).replace(/%20/g, '+'),
      encodeURIComponent(secret).replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()),
      JSON.stringify(secret).slice(1, -1),
      Buffer.from(`svc:${secret}`).toString('base64'),
      Buffer.from(`svc:${encodeURIComponent(secret)}`).toString('base64'),
    ]
    const { child, url, stderr } = await start(
      ['--upstream', `http://127.0.0.1:${echo.port}/oauth2/token`, '--port', '0'],
      { ...keys },
    )
    try {
      const post = (headers: Record<string, string>, body: string) =>
        fetch(`${url}/oauth2/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
          body,
        })
      const bodies = forms
        .slice(1, 4)
        .map(
          (encoded, i) =>
            `grant_type=client_credentials&client_id=evil-${i}%0A%7B%22level%22%3A%22error%22%7D&client_secret=${encoded}`,
        )
      for (let round = 0; round < 10; round++) {
        for (const body of bodies) expect((await post({}, body)).status).toBe(401)
        for (const basic of forms.slice(5))
          expect(
            (await post({ authorization: `Basic ${basic}` }, 'grant_type=client_credentials')).status,
          ).toBe(401)
      }
      child.kill('SIGTERM')
      await exited(child)
      expect(child.exitCode).toBe(0)
      const text = stderr()
      const lines = text.trim().split('\n')
      for (const line of lines)
        expect(JSON.parse(line)).toMatchObject({ level: expect.any(String), event: expect.any(String) })
      for (const form of forms) expect(text).not.toContain(form)
      expect(text).not.toContain('evil')
      // 50 refused requests, one summary line (and the one that says the proxy stopped).
      expect(lines.map((line) => JSON.parse(line).event)).toEqual(['refused', 'stopped'])
      expect(JSON.parse(lines[0]!)).toMatchObject({ count: 50, byStatus: { 401: 50 } })
    } finally {
      await echo.stop()
    }
  })
})
