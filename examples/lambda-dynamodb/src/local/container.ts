// One simulated Lambda container in a worker thread: its own module instances, its own memory.
// Importing the handler module is the init phase (secrets, provider, prefetch); each message is
// one invocation with a fresh Lambda context, as the runtime gives it. The handler module is
// ../handler unless the starter names another (the fleet demo does); when that module exports
// `stats()`, every reply carries what it returns (e.g. store calls counted inside the container).
import { parentPort, workerData } from 'node:worker_threads'
// The context objects the middleware's own tests use, shaped as the Node.js runtime passes them.
import { lambdaContext } from '../../../../packages/middy/test/lambda'

export type ContainerRequest = { id: number; event: unknown; timeoutMs: number }
export type ContainerReply =
  | { type: 'ready'; initMs: number }
  | { type: 'init-error'; message: string }
  | { id: number; ok: true; response: unknown; ms: number; stats?: Record<string, number> }
  | {
      id: number
      ok: false
      error: { name: string; code?: string; message: string }
      ms: number
      stats?: Record<string, number>
    }

const port = parentPort!
const functionName = process.env.AWS_LAMBDA_FUNCTION_NAME ?? 'local'

const started = performance.now()
try {
  const { handler, stats } = (await import(workerData.handler ?? '../handler')) as {
    handler: (event: never, context: never) => Promise<unknown>
    stats?: () => Record<string, number>
  }
  port.postMessage({
    type: 'ready',
    initMs: Math.round(performance.now() - started),
  } satisfies ContainerReply)
  // One invocation at a time, as Lambda runs a container.
  let queue = Promise.resolve()
  port.on('message', (req: ContainerRequest) => {
    queue = queue.then(async () => {
      const start = performance.now()
      try {
        const response = await handler(
          req.event as never,
          lambdaContext({ timeoutMs: req.timeoutMs, functionName }) as never,
        )
        const ms = performance.now() - start
        port.postMessage({ id: req.id, ok: true, response, ms, stats: stats?.() } satisfies ContainerReply)
      } catch (err) {
        const ms = performance.now() - start
        const e = err as Error & { code?: string }
        port.postMessage({
          id: req.id,
          ok: false,
          error: { name: e.name, code: e.code, message: e.message },
          ms,
          stats: stats?.(),
        } satisfies ContainerReply)
      }
    })
  })
} catch (err) {
  port.postMessage({ type: 'init-error', message: (err as Error).message } satisfies ContainerReply)
}
