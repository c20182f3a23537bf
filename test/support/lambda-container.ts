import { type ChildProcess, fork } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { exited, track } from './children'

// import.meta.url works under tsx (ESM) and under jest, where swc rewrites it for CommonJS.
const HERE = dirname(fileURLToPath(import.meta.url))
const ROOT = join(HERE, '..', '..')
const RUNTIME = join(HERE, 'lambda-runtime.ts')
const STDERR_TAIL_BYTES = 8_192

/** What a container is told at start (it reaches Redis at `redisPort`, usually a TCP proxy). */
export interface ContainerConfig {
  tokenEndpoint: string
  clientId: string
  clientSecret: string
  redisPort: number
  namespace: string
  encryptionKey: string
  storeTimeoutMs: number
  /** The function timeout each invocation gets (Middy caps its wait for a token by it). Default 30,000 ms. */
  invocationTimeoutMs?: number
  /** m2mToken's `disablePrefetch`: no token request at init. Default false (the prefetch runs). */
  disablePrefetch?: boolean
}

/** What one invocation reports back; holds the token, which the parent checks against the API. */
export interface InvocationReport {
  id: number
  /** The bearer token the handler got from `context.ordersApiToken`. */
  token?: string
  /** The invocation failed: the error's name, code and message. */
  error?: { name: string; code?: string; message: string }
  /** The token's JWT `exp`, epoch ms, as the container read it. */
  exp?: number
  /** The container's `Date.now()` when the handler returned. */
  returnedAt: number
  /** Wall ms the handler took, measured in the container. */
  durationMs: number
  /** Store calls that failed (timed out, on a dead socket) while this invocation ran. */
  storeErrors: number
  /** Types of the provider's events during the invocation, in order. */
  events: string[]
  /** Messages of its `store-error` events (free of tokens and secrets). */
  storeErrorMessages: string[]
}

/** The IPC protocol between the parent (the Lambda service) and a container. */
export type ContainerMessage =
  | { type: 'ready'; key: string }
  | { type: 'invoke'; id: number }
  | { type: 'result'; report: InvocationReport }

/** A Lambda container in a child process; see {@link startLambdaContainer}. */
export interface LambdaContainer {
  readonly pid: number
  /** The provider's cache key (secret-free). */
  readonly key: string
  /** Runs one invocation (they queue: one at a time, as Lambda does) and resolves with its report. */
  invoke(): Promise<InvocationReport>
  /** SIGSTOP; resolves once the kernel reports the process stopped (every thread, every timer). */
  freeze(): Promise<void>
  /** SIGCONT; resolves once the process runs again. */
  thaw(): Promise<void>
  /** The end of what the container wrote to stderr, for failure messages. */
  stderr(): string
  /** SIGCONT, then SIGKILL: no stopped process is left behind, whatever state a failed test left. Safe to call twice. */
  stop(): Promise<void>
}

/** The scheduler state of a process (`R`, `S`, `T` for stopped, ...), or undefined without /proc. */
function processState(pid: number): string | undefined {
  const file = `/proc/${pid}/stat`
  if (!existsSync(file)) return undefined
  try {
    const stat = readFileSync(file, 'utf8')
    // `pid (comm) state ...`; comm may hold spaces and parentheses, so read after the last `)`.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)
  } catch {
    return undefined
  }
}

/** Resolves once `/proc` says the process is (or is no longer) stopped; at once where there is no /proc. */
async function untilStopped(child: ChildProcess, stopped: boolean): Promise<void> {
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error('the container exited')
    const state = processState(child.pid!)
    if (state === undefined || (state === 'T') === stopped) return
    await new Promise((r) => setTimeout(r, 2))
  }
}

/**
 * Starts a Lambda container: a node process (TypeScript through tsx, the packages from source)
 * whose init phase builds a Middy handler with `m2mToken` and a Redis store, and whose loop runs
 * one invocation per {@link LambdaContainer.invoke}, like the Lambda runtime. It runs with
 * `AWS_LAMBDA_FUNCTION_NAME` set, so the provider refreshes inline, as in Lambda.
 * {@link LambdaContainer.freeze} and {@link LambdaContainer.thaw} do to it what Lambda does between
 * invocations: SIGSTOP (its timers genuinely stop) and SIGCONT.
 *
 * @example
 * ```ts
 * const container = await startLambdaContainer({ ...source, redisPort: proxy.port, namespace, encryptionKey, storeTimeoutMs: 1_000 })
 * const { token } = await container.invoke()
 * await container.freeze()
 * proxy.applyToOpen('blackhole')   // its socket to Redis dies while it sleeps
 * await container.thaw()
 * await container.stop()
 * ```
 */
export async function startLambdaContainer(config: ContainerConfig): Promise<LambdaContainer> {
  const tsx = pathToFileURL(createRequire(join(ROOT, 'package.json')).resolve('tsx')).href
  const child = track(
    fork(RUNTIME, [], {
      // Not jest's flags: a plain node with tsx's loader; the root tsconfig maps @tokenstash/* to src.
      execArgv: ['--import', tsx],
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        NODE_NO_WARNINGS: '1',
        TSX_TSCONFIG_PATH: join(ROOT, 'tsconfig.json'),
        AWS_LAMBDA_FUNCTION_NAME: 'orders-sync',
        TOKENSTASH_CONTAINER: JSON.stringify(config),
      },
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      serialization: 'json',
    }),
  )
  let stderr = ''
  child.stderr!.on('data', (chunk) => {
    stderr = (stderr + chunk).slice(-STDERR_TAIL_BYTES)
  })
  const died = new Promise<never>((_, reject) => {
    child.once('exit', (code, signal) =>
      reject(new Error(`the container exited (${signal ?? code}); stderr: ${stderr.trim() || '(empty)'}`)),
    )
  })
  died.catch(() => {})
  const waiting = new Map<number, (report: InvocationReport) => void>()
  let key = ''
  const ready = new Promise<void>((resolve) => {
    child.on('message', (message: ContainerMessage) => {
      if (message.type === 'ready') {
        key = message.key
        resolve()
      } else if (message.type === 'result') {
        waiting.get(message.report.id)?.(message.report)
        waiting.delete(message.report.id)
      }
    })
  })
  try {
    await Promise.race([ready, died])
  } catch (err) {
    child.kill('SIGKILL')
    throw err
  }

  let ids = 0
  let queue: Promise<unknown> = Promise.resolve()
  let stopped: Promise<void> | undefined
  const container: LambdaContainer = {
    pid: child.pid!,
    key,
    invoke() {
      const id = ++ids
      const result = queue.then(() =>
        Promise.race([
          new Promise<InvocationReport>((resolve) => {
            waiting.set(id, resolve)
            child.send({ type: 'invoke', id } satisfies ContainerMessage)
          }),
          died,
        ]),
      )
      queue = result.catch(() => {})
      return result
    },
    async freeze() {
      child.kill('SIGSTOP')
      await untilStopped(child, true)
    },
    async thaw() {
      child.kill('SIGCONT')
      await untilStopped(child, false)
    },
    stderr: () => stderr,
    stop() {
      stopped ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGCONT')
          child.kill('SIGKILL')
        }
        await exited(child)
      })()
      return stopped
    },
  }
  return container
}
