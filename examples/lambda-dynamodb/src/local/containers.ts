// Starts simulated Lambda containers (worker threads) running src/handler.ts.
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { type TransferListItem, Worker } from 'node:worker_threads'
import type { ContainerReply } from './container'

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..', '..', '..', '..')

export type InvokeResult = (
  | { ok: true; response: { statusCode: number; headers?: Record<string, string>; body?: string } }
  | { ok: false; error: { name: string; code?: string; message: string } }
) & {
  /** How long the handler took, measured inside the container (absent if the container died). */
  ms?: number
  /** What the handler module's `stats()` returned after this invocation, if it exports one. */
  stats?: Record<string, number>
}

/** Options of {@link startContainer}. */
export interface ContainerOptions {
  /** The handler module (a file URL) to load instead of src/handler.ts. */
  handler?: string
  /**
   * container.ts already compiled to plain JavaScript (a file path), run without tsx: a worker
   * starts in about half the time (the fleet demo bundles both with esbuild).
   */
  script?: string
  /** More workerData, e.g. a MessagePort (listed in `transferList` too). */
  data?: Record<string, unknown>
  transferList?: TransferListItem[]
}

export interface Container {
  name: string
  /** Resolves when the handler module has loaded (end of the init phase), with how long that took. */
  ready: Promise<{ initMs: number }>
  /** One invocation, with a context whose deadline is `timeoutMs` away. */
  invoke(event: unknown, options?: { timeoutMs?: number }): Promise<InvokeResult>
  stop(): Promise<void>
}

/**
 * A cold container with its own module registry and memory, sharing only `env` with its fleet.
 *
 * @example
 * ```ts
 * const c = startContainer('c1', stack.env)
 * await c.ready
 * const result = await c.invoke(apiGatewayEvent('42'))
 * ```
 */
export function startContainer(
  name: string,
  env: Record<string, string>,
  options: ContainerOptions = {},
): Container {
  const worker = new Worker(options.script ?? join(here, 'boot.mjs'), {
    workerData: {
      ...options.data,
      name,
      tsconfig: join(root, 'tsconfig.json'),
      entry: pathToFileURL(join(here, 'container.ts')).href,
      handler: options.handler,
    },
    transferList: options.transferList,
    env: { ...process.env, ...env },
    // The AWS SDK's notice about Node 20 is for operators; Lambda's runtime is not Node 20 anyway.
    execArgv: ['--no-warnings'],
  })
  const waiting = new Map<number, (result: InvokeResult) => void>()
  let nextId = 0
  let exited = false
  const ready = new Promise<{ initMs: number }>((resolve, reject) => {
    worker.on('message', (msg: ContainerReply) => {
      if ('type' in msg) {
        if (msg.type === 'ready') resolve({ initMs: msg.initMs })
        else reject(new Error(`container ${name} failed to initialise: ${msg.message}`))
        return
      }
      const done = waiting.get(msg.id)
      waiting.delete(msg.id)
      const { ms, stats } = msg
      done?.(
        msg.ok
          ? { ok: true, response: msg.response as never, ms, stats }
          : { ok: false, error: msg.error, ms, stats },
      )
    })
    worker.once('error', reject)
    worker.once('exit', (code) => {
      exited = true
      reject(new Error(`container ${name} exited with ${code}`))
      for (const done of waiting.values())
        done({ ok: false, error: { name: 'Error', message: 'container exited' } })
      waiting.clear()
    })
  })
  ready.catch(() => {})
  return {
    name,
    ready,
    async invoke(event, { timeoutMs = 10_000 } = {}) {
      await ready
      return new Promise<InvokeResult>((resolve) => {
        const id = nextId++
        waiting.set(id, resolve)
        worker.postMessage({ id, event, timeoutMs })
      })
    },
    async stop() {
      if (!exited) await worker.terminate()
    },
  }
}

/**
 * An API Gateway HTTP API (payload 2.0) event for `GET /orders/{id}`.
 *
 * @example
 * ```ts
 * await container.invoke(apiGatewayEvent('42'))
 * ```
 */
export function apiGatewayEvent(id: string) {
  return {
    version: '2.0',
    routeKey: 'GET /orders/{id}',
    rawPath: `/orders/${id}`,
    rawQueryString: '',
    headers: { accept: 'application/json', host: 'abc123.execute-api.us-east-1.amazonaws.com' },
    pathParameters: { id },
    requestContext: {
      accountId: '123456789012',
      apiId: 'abc123',
      domainName: 'abc123.execute-api.us-east-1.amazonaws.com',
      http: {
        method: 'GET',
        path: `/orders/${id}`,
        protocol: 'HTTP/1.1',
        sourceIp: '203.0.113.7',
        userAgent: 'curl/8.5.0',
      },
      requestId: `req-${id}`,
      routeKey: 'GET /orders/{id}',
      stage: '$default',
      time: new Date().toISOString(),
      timeEpoch: Date.now(),
    },
    isBase64Encoded: false,
  }
}
