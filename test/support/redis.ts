import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { exited, track, trackDir } from './children'
import { freePort, waitForPort } from './ports'

const run = promisify(execFile)
const HOST = '127.0.0.1'

export interface RedisServer {
  host: string
  port: number
  /** `redis://127.0.0.1:<port>` */
  url: string
  /** Kills the server now (SIGKILL, like a crash) but keeps port and directory for {@link restart}. */
  kill(): Promise<void>
  /** Starts the server again on the same port (killing it first if it runs); data is gone, as after a crash. */
  restart(): Promise<void>
  /** Freezes the server (SIGSTOP): connections stay open and every command hangs, like a stuck node. */
  pause(): void
  /** Lets a paused server go on (SIGCONT); the commands that waited are answered. */
  resume(): void
  /** Kills the server and removes its directory. Safe to call twice. */
  stop(): Promise<void>
}

export interface RedisCluster {
  nodes: { host: string; port: number }[]
  stop(): Promise<void>
}

async function launch(port: number, dir: string, extra: string[]): Promise<ChildProcess> {
  // No RDB, no AOF: tests never want state to survive a restart, and nothing is written to disk.
  const args = [
    '--port',
    String(port),
    '--bind',
    HOST,
    '--save',
    '',
    '--appendonly',
    'no',
    '--dir',
    dir,
    ...extra,
  ]
  const child = track(spawn('redis-server', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] }))
  let stderr = ''
  child.stderr?.on('data', (chunk) => {
    stderr += chunk
  })
  const failed = new Promise<never>((_, reject) => {
    child.once('error', (err) =>
      reject(
        new Error(`redis-server did not start (is it installed? run \`node scripts/setup.mjs --redis\`)`, {
          cause: err,
        }),
      ),
    )
    child.once('exit', (code) =>
      reject(new Error(`redis-server exited with ${code} on port ${port}: ${stderr.trim()}`)),
    )
  })
  failed.catch(() => {})
  await Promise.race([waitForPort(port, HOST, 10_000), failed])
  return child
}

async function kill(child: ChildProcess | undefined): Promise<void> {
  if (!child) return
  child.kill('SIGKILL')
  await exited(child)
}

/**
 * A real redis-server on a free loopback port, without persistence, in a temp directory.
 *
 * @example
 * ```ts
 * const redis = await startRedis()
 * afterAll(() => redis.stop())
 * const client = new Redis(redis.url)
 * ```
 */
export async function startRedis(): Promise<RedisServer> {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'tokenstash-redis-'))
  const untrackDir = trackDir(dir)
  let child: ChildProcess | undefined = await launch(port, dir, [])
  return {
    host: HOST,
    port,
    url: `redis://${HOST}:${port}`,
    async kill() {
      await kill(child)
      child = undefined
    },
    async restart() {
      await kill(child)
      child = await launch(port, dir, [])
    },
    pause() {
      child?.kill('SIGSTOP')
    },
    resume() {
      child?.kill('SIGCONT')
    },
    async stop() {
      await kill(child)
      child = undefined
      rmSync(dir, { recursive: true, force: true })
      untrackDir()
    },
  }
}

async function clusterInfo(port: number): Promise<string> {
  const { stdout } = await run('redis-cli', ['-h', HOST, '-p', String(port), 'cluster', 'info'])
  return stdout
}

/**
 * Three cluster-enabled redis-servers (masters, no replicas) on free loopback ports, joined with
 * `redis-cli --cluster create`; resolves once every node reports `cluster_state:ok`.
 *
 * @example
 * ```ts
 * const cluster = await startRedisCluster()
 * const client = new Redis.Cluster(cluster.nodes)
 * ```
 */
export async function startRedisCluster(): Promise<RedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'tokenstash-redis-cluster-'))
  const untrackDir = trackDir(dir)
  const children: ChildProcess[] = []
  const stop = async () => {
    await Promise.all(children.map(kill))
    rmSync(dir, { recursive: true, force: true })
    untrackDir()
  }
  try {
    const ports: number[] = []
    for (let i = 0; i < 3; i++) {
      const port = await freePort()
      ports.push(port)
      children.push(
        await launch(port, dir, [
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          `nodes-${port}.conf`,
          '--cluster-node-timeout',
          '2000',
        ]),
      )
    }
    await run('redis-cli', [
      '--cluster',
      'create',
      ...ports.map((p) => `${HOST}:${p}`),
      '--cluster-replicas',
      '0',
      '--cluster-yes',
    ])
    const deadline = Date.now() + 20_000
    for (const port of ports) {
      while (!(await clusterInfo(port)).includes('cluster_state:ok')) {
        if (Date.now() > deadline)
          throw new Error(`redis cluster node ${port} did not reach cluster_state:ok`)
        await new Promise((r) => setTimeout(r, 100))
      }
    }
    return { nodes: ports.map((port) => ({ host: HOST, port })), stop }
  } catch (err) {
    await stop()
    throw err
  }
}
