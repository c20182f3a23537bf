import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { trackDir } from './support/children'

// The AWS Lambda Node runtime ends an invocation (answering `null`) once the event loop is empty.
// A plain node process shows the same thing: it exits when nothing but unref'd timers is left. So a
// child whose only pending work is one getToken() must stay alive until the token arrives, through a
// retry backoff and through a store call that times out.
const run = promisify(execFile)
const root = join(__dirname, '..')
const tsxCli = createRequire(join(root, 'package.json')).resolve('tsx/cli')
const core = join(root, 'packages', 'core', 'src', 'index.ts')

let dir: string
let untrack: () => void
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tokenstash-liveness-'))
  untrack = trackDir(dir)
})
afterAll(() => {
  rmSync(dir, { recursive: true, force: true })
  untrack()
})

/** Runs `body` as a TypeScript module in a fresh node process; resolves with what it printed. */
async function child(name: string, body: string, args: string[] = []): Promise<string> {
  const file = join(dir, `${name}.ts`)
  writeFileSync(file, `import * as core from ${JSON.stringify(core)}\n${body}\n`)
  const { stdout } = await run(
    process.execPath,
    [tsxCli, '--tsconfig', join(root, 'tsconfig.json'), file, ...args],
    {
      env: { ...process.env, NODE_NO_WARNINGS: '1', AWS_LAMBDA_FUNCTION_NAME: 'liveness' },
      timeout: 20_000,
    },
  )
  return stdout.trim()
}

describe('a waiting caller keeps the process alive', () => {
  let server: Server
  let endpoint: string
  let requests = 0

  beforeAll(async () => {
    server = createServer((req, res) => {
      req.resume()
      requests++
      if (requests % 2 === 1) {
        res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":"temporarily_unavailable"}')
        return
      }
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ access_token: `live-${requests}`, token_type: 'Bearer', expires_in: 3600 }))
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const address = server.address()
    endpoint = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/token`
  })
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())))

  it('should not exit during a retry backoff before the token arrives', async () => {
    const out = await child(
      'backoff',
      `const p = core.createTokenProvider({
        source: core.clientCredentials({ tokenEndpoint: process.argv[2]!, clientId: 'c', clientSecret: 's' }),
        retry: { minTimeoutMs: 400, maxTimeoutMs: 400 },
      })
      p.getToken().then((t) => console.log('served', t), (e) => console.log('failed', e.code))`,
      [endpoint],
    )
    expect(out).toBe('served live-2')
  })

  it('should not exit while a store call is timing out', async () => {
    const out = await child(
      'store-timeout',
      `const hang = () => new Promise<never>(() => {})
      const store = { get: hang, set: hang, delete: hang, acquireLease: hang, releaseLease: hang }
      const p = core.createTokenProvider({
        source: { id: 'local', fetchToken: async () => ({ accessToken: 'from-source', tokenType: 'Bearer', issuedAt: Date.now(), expiresAt: Date.now() + 3_600_000 }) },
        store,
        encryption: false,
        storeTimeoutMs: 300,
      })
      p.getToken().then((t) => console.log('served', t), (e) => console.log('failed', e.code))`,
    )
    expect(out).toBe('served from-source')
  })

  it('should exit once the token is served, however long a hung releaseLease has to time out', async () => {
    // Nobody waits on a release: a store that never answers it held the process (a service's
    // shutdown, a jest worker's exit) for the whole storeTimeoutMs. The child is killed at 20 s.
    const out = await child(
      'hung-release',
      `const inner = core.memoryStore()
      const store = {
        get: (k: string) => inner.get(k),
        set: (k: string, v: string, t: number) => inner.set(k, v, t),
        delete: (k: string, e?: string) => inner.delete(k, e),
        acquireLease: (k: string, o: string, t: number) => inner.acquireLease(k, o, t),
        releaseLease: () => new Promise<never>(() => {}),
      }
      const p = core.createTokenProvider({
        source: { id: 'local', fetchToken: async () => ({ accessToken: 'from-source', tokenType: 'Bearer', issuedAt: Date.now(), expiresAt: Date.now() + 3_600_000 }) },
        store,
        encryption: false,
        storeTimeoutMs: 60_000,
        logger: false,
      })
      const started = Date.now()
      p.getToken().then((t) => console.log('served', t))
      process.on('exit', () => console.log('exited', Date.now() - started < 10_000 ? 'at once' : 'late'))`,
    )
    expect(out).toBe('served from-source\nexited at once')
  })

  it('should not be kept alive by lease renewals once nothing else is pending', async () => {
    // The source's promise holds no handle (a custom source that forgot its request): only the
    // renewal timer of the lease it holds is left, and that alone must not keep the process up.
    const out = await child(
      'renewal',
      `const p = core.createTokenProvider({
        source: { id: 'local', timeoutMs: 200, fetchToken: () => new Promise<never>(() => {}) },
        store: core.memoryStore(),
        encryption: false,
        lease: { ttlMs: 300 },
      })
      void p.getToken()
      setTimeout(() => console.log('waiting'), 50)`,
    )
    expect(out).toBe('waiting')
  })
})
