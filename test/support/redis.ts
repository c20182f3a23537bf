import { type ChildProcess, execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { kill, serverProcess, spawnServer, trackDir } from './children'
import { freePort } from './ports'

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
  /** Every node, primaries first (in `--cluster create` order), then replicas. */
  nodes: { host: string; port: number }[]
  /** Ports of the nodes that are primaries now (a failover changes them). */
  primaries(): Promise<number[]>
  /** The port of the node that serves `key`'s slot as primary now. */
  primaryOf(key: string): Promise<number>
  /** Kills one node (SIGKILL, like a crash); with replicas, the cluster fails over after its node timeout. */
  kill(port: number): Promise<void>
  /** Resolves once every live node reports `cluster_state:ok` again, or rejects after `timeoutMs`. */
  waitHealthy(timeoutMs?: number): Promise<void>
  stop(): Promise<void>
}

/** Options of {@link startRedisCluster}. */
export interface RedisClusterOptions {
  /** Replicas per primary (three primaries). Default 0; 1 makes a failover possible. */
  replicas?: 0 | 1
}

function launch(port: number, dir: string, extra: string[]): Promise<ChildProcess> {
  // No RDB, no AOF: tests never want state to survive a restart, and nothing is written to disk.
  const args = ['--port', String(port), '--bind', HOST, '--save', '', '--appendonly', 'no', '--dir', dir]
  return spawnServer({
    name: 'redis-server',
    command: 'redis-server',
    args: [...args, ...extra],
    port,
    cwd: dir,
    timeoutMs: 10_000,
    notStarted: 'redis-server did not start (is it installed? run `node scripts/setup.mjs --redis`)',
  })
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
  const server = await serverProcess(() => launch(port, dir, []))
  return {
    host: HOST,
    port,
    url: `redis://${HOST}:${port}`,
    kill: server.kill,
    restart: server.restart,
    pause: () => server.signal('SIGSTOP'),
    resume: () => server.signal('SIGCONT'),
    async stop() {
      await server.kill()
      rmSync(dir, { recursive: true, force: true })
      untrackDir()
    },
  }
}

/**
 * Three cluster-enabled redis-server primaries (and, with `replicas: 1`, one replica each) on free
 * loopback ports, joined with `redis-cli --cluster create`; resolves once every node reports
 * `cluster_state:ok` (and, with replicas, every replica is attached).
 *
 * @example
 * ```ts
 * const cluster = await startRedisCluster({ replicas: 1 })
 * const client = new Redis.Cluster(cluster.nodes)
 * await cluster.kill(await cluster.primaryOf('tokenstash:{default:abc}'))   // a replica takes over
 * ```
 */
export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisCluster> {
  const replicas = options.replicas ?? 0
  const dir = mkdtempSync(join(tmpdir(), 'tokenstash-redis-cluster-'))
  const untrackDir = trackDir(dir)
  const children = new Map<number, ChildProcess>()
  const stop = async () => {
    await Promise.all([...children.values()].map(kill))
    rmSync(dir, { recursive: true, force: true })
    untrackDir()
  }
  const cli = async (port: number, ...args: string[]) =>
    (await run('redis-cli', ['-h', HOST, '-p', String(port), ...args])).stdout
  const live = () => [...children].filter(([, c]) => c.exitCode === null && c.signalCode === null)
  const clusterNodes = async () => {
    const text = await cli(live()[0]![0], 'cluster', 'nodes')
    // <id> <ip:port@cport> <flags> <master> <ping> <pong> <epoch> <link> <slot ranges…>
    return text
      .trim()
      .split('\n')
      .map((line) => line.split(' '))
      .map(([, address = '', flags = '', , , , , link = '', ...slots]) => ({
        port: Number(/:(\d+)@/.exec(address)?.[1]),
        primary: flags.split(',').includes('master') && !flags.includes('fail'),
        replica: flags.split(',').includes('slave'),
        connected: link === 'connected',
        slots: slots.map((r) => r.split('-').map(Number) as [number, number?]),
      }))
  }
  const waitHealthy = async (timeoutMs = 20_000) => {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const states = await Promise.all(live().map(([port]) => cli(port, 'cluster', 'info').catch(() => '')))
      const nodes = await clusterNodes().catch(() => [])
      const primaries = nodes.filter((n) => n.primary && n.slots.length > 0).length
      const ok = states.every((s) => s.includes('cluster_state:ok')) && primaries === 3
      // A replica that never finished its first sync is too stale to be promoted: wait for the links.
      const linked = await Promise.all(
        nodes
          .filter((n) => n.replica && n.connected)
          .map((n) => cli(n.port, 'info', 'replication').catch(() => '')),
      )
      const attached = linked.filter((info) => info.includes('master_link_status:up')).length
      if (ok && attached >= Math.min(replicas * 3, live().length - 3)) return
      if (Date.now() > deadline)
        throw new Error(`redis cluster did not reach cluster_state:ok in ${timeoutMs} ms`)
      await new Promise((r) => setTimeout(r, 100))
    }
  }
  try {
    const ports: number[] = []
    for (let i = 0; i < 3 * (1 + replicas); i++) {
      const port = await freePort()
      ports.push(port)
      children.set(
        port,
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
      String(replicas),
      '--cluster-yes',
    ])
    await waitHealthy()
    return {
      nodes: ports.map((port) => ({ host: HOST, port })),
      primaries: async () =>
        (await clusterNodes()).filter((n) => n.primary && n.slots.length > 0).map((n) => n.port),
      async primaryOf(key) {
        const slot = Number((await cli(live()[0]![0], 'cluster', 'keyslot', key)).trim())
        const nodes = await clusterNodes()
        const owner = nodes.find(
          (n) => n.primary && n.slots.some(([from, to = from]) => slot >= from && slot <= to),
        )
        if (!owner) throw new Error(`no primary owns slot ${slot} of ${key}: ${JSON.stringify(nodes)}`)
        return owner.port
      },
      async kill(port) {
        await kill(children.get(port))
      },
      waitHealthy,
      stop,
    }
  } catch (err) {
    await stop()
    throw err
  }
}
