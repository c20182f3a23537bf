import { type ChildProcess, spawn } from 'node:child_process'
import { rmSync } from 'node:fs'
import { waitForPort } from './ports'

// Servers started by test support (redis-server, dynalite) never outlive the process that started
// them — a jest worker, the demo or a benchmark — whatever a test does; nor do their temp dirs.
const live = new Set<ChildProcess>()
const dirs = new Set<string>()
let hooked = false

function hook(): void {
  if (hooked) return
  hooked = true
  process.once('exit', () => {
    for (const child of live) child.kill('SIGKILL')
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
  })
}

/** Kills `child` when this process exits, if it is still running. */
export function track(child: ChildProcess): ChildProcess {
  hook()
  live.add(child)
  child.once('exit', () => live.delete(child))
  return child
}

/** Removes `dir` when this process exits; call the returned function once it is removed already. */
export function trackDir(dir: string): () => void {
  hook()
  dirs.add(dir)
  return () => dirs.delete(dir)
}

/** Resolves when `child` has exited (at once if it already has). */
export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => child.once('exit', () => resolve()))
}

/** Kills `child` (SIGKILL, like a crash) and resolves once it has exited; nothing to do without one. */
export async function kill(child: ChildProcess | undefined): Promise<void> {
  if (!child) return
  child.kill('SIGKILL')
  await exited(child)
}

/** How {@link spawnServer} starts a server process. */
export interface ServerCommand {
  /** Named in errors, e.g. `redis-server`. */
  name: string
  command: string
  args: string[]
  /** The loopback port it listens on once started. */
  port: number
  /** Give up waiting for the port after this long. */
  timeoutMs: number
  cwd?: string
  /** The message when the command cannot be run at all (its error is the cause). Default: `<name> did not start`. */
  notStarted?: string
}

/**
 * Spawns a server process, tracked (see {@link track}), and resolves once it accepts connections on
 * 127.0.0.1:`port`. Rejects when it cannot be spawned, or when it exits first, with its stderr.
 *
 * @example
 * ```ts
 * const child = await spawnServer({ name: 'redis-server', command: 'redis-server', args: ['--port', '6390'], port: 6390, timeoutMs: 10_000 })
 * ```
 */
export async function spawnServer(server: ServerCommand): Promise<ChildProcess> {
  const { name, port } = server
  const child = track(
    spawn(server.command, server.args, { cwd: server.cwd, stdio: ['ignore', 'ignore', 'pipe'] }),
  )
  let stderr = ''
  child.stderr?.on('data', (chunk) => {
    stderr += chunk
  })
  const failed = new Promise<never>((_, reject) => {
    child.once('error', (err) =>
      reject(new Error(server.notStarted ?? `${name} did not start`, { cause: err })),
    )
    child.once('exit', (code) =>
      reject(new Error(`${name} exited with ${code} on port ${port}: ${stderr.trim()}`)),
    )
  })
  failed.catch(() => {})
  await Promise.race([waitForPort(port, '127.0.0.1', server.timeoutMs), failed])
  return child
}

/** The process of a server that a test may crash, start again or freeze; see {@link serverProcess}. */
export interface ServerProcess {
  /** Kills it now (SIGKILL, like a crash); {@link ServerProcess.restart} starts it again. */
  kill(): Promise<void>
  /** Kills it if it runs, then starts it again. */
  restart(): Promise<void>
  /** Sends `signal` to it if it runs: SIGSTOP freezes it (connections open, no answers), SIGCONT lets it go on. */
  signal(signal: NodeJS.Signals): void
}

/**
 * Starts a server process with `launch`, and gives the means to kill it, start it again the same
 * way (same port, same directory) and freeze it.
 *
 * @example
 * ```ts
 * const server = await serverProcess(() => spawnServer({ ... }))
 * server.signal('SIGSTOP')
 * await server.restart()
 * ```
 */
export async function serverProcess(launch: () => Promise<ChildProcess>): Promise<ServerProcess> {
  let child: ChildProcess | undefined = await launch()
  const stop = async () => {
    const running = child
    child = undefined
    await kill(running)
  }
  return {
    kill: stop,
    async restart() {
      await stop()
      child = await launch()
    },
    signal(signal) {
      child?.kill(signal)
    },
  }
}
