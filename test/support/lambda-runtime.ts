import middy from '@middy/core'
import { clientCredentials, createTokenProvider, type TokenEvent, type TokenProvider } from '@tokenstash/core'
import { type M2mTokenOptions, m2mToken } from '@tokenstash/middy'
import { redisStore } from '@tokenstash/store-redis'
import type { Context } from 'aws-lambda'
import Redis from 'ioredis'
import { invoke, lambdaContext } from '../../packages/middy/test/lambda'
import type { ContainerConfig, ContainerMessage, InvocationReport } from './lambda-container'
import { credentialsOf, jwtExpiry } from './reliability'

// The Lambda function of the reliability suite: a Middy handler with m2mToken (`ordersHandler`),
// invoked and measured one invocation at a time (`invokeOnce`), in the test's process or in a
// container. Run as a process of its own, this file is one Lambda container: the init phase
// (module load) builds the handler with a Redis store, whose prefetch starts at once; then it plays
// the Lambda runtime's loop, one invocation at a time, each asked for over IPC by the parent.
// Started by `startLambdaContainer` (lambda-container.ts), which freezes and thaws it with
// SIGSTOP/SIGCONT and passes its config in TOKENSTASH_CONTAINER.

/**
 * A Middy handler answering the token m2mToken put on its context, from `ordersApiToken`.
 *
 * @example
 * ```ts
 * const token = await invoke(ordersHandler(provider, { disablePrefetch: true }), {}, lambdaContext())
 * ```
 */
export function ordersHandler(
  ordersApiToken: TokenProvider,
  options: Omit<M2mTokenOptions, 'fetchData'> = {},
) {
  return middy(
    async (_event: unknown, context: Context & { ordersApiToken: string }) => context.ordersApiToken,
  ).use(m2mToken({ fetchData: { ordersApiToken }, ...options }))
}

/** One invocation: the token it answered or the error it failed with, how long it took, the store calls that failed. */
export type Invocation = Pick<InvocationReport, 'token' | 'error' | 'durationMs' | 'storeErrors'>

/**
 * Invokes `handler` once as the Lambda runtime does and measures it; a failed invocation is
 * returned, not thrown.
 *
 * @example
 * ```ts
 * const { token, error, durationMs } = await invokeOnce(handler, provider, {}, lambdaContext({ timeoutMs: 3_000 }))
 * ```
 */
export async function invokeOnce(
  handler: ReturnType<typeof ordersHandler>,
  ordersApiToken: TokenProvider,
  event: unknown,
  context: Context,
): Promise<Invocation> {
  const errorsBefore = ordersApiToken.stats().storeErrors
  const started = performance.now()
  let token: string | undefined
  let error: Invocation['error']
  try {
    token = await invoke(handler, event, context)
  } catch (err) {
    const e = err as { name?: string; code?: string; message?: string }
    error = { name: String(e?.name), code: e?.code, message: String(e?.message) }
  }
  const durationMs = Math.round(performance.now() - started)
  return { token, error, durationMs, storeErrors: ordersApiToken.stats().storeErrors - errorsBefore }
}

/** The container: started when this file runs as a process of its own, with its config. */
function runContainer(config: ContainerConfig): void {
  const send = (message: ContainerMessage) => process.send?.(message)

  const client = new Redis(config.redisPort, '127.0.0.1')
  // A dead socket is the point of the exercise; the provider reports store failures through events.
  client.on('error', () => {})

  let events: TokenEvent[] = []
  const ordersApiToken = createTokenProvider({
    source: clientCredentials(credentialsOf(config)),
    store: redisStore({ client }),
    encryptionKey: config.encryptionKey,
    namespace: config.namespace,
    storeTimeoutMs: config.storeTimeoutMs,
    // One host clock (every container is a process on this machine): short-lived tokens are shared.
    clockSkewToleranceMs: 0,
    onEvent: (e) => events.push(e),
  })
  const handler = ordersHandler(ordersApiToken, { disablePrefetch: config.disablePrefetch ?? false })

  async function run(id: number): Promise<InvocationReport> {
    events = []
    const context = lambdaContext({ timeoutMs: config.invocationTimeoutMs ?? 30_000 })
    // Its storeErrors: every store call that failed while this invocation ran (the provider counts
    // each; its `store-error` event is once per outage and says whether it was a timeout).
    const invocation = await invokeOnce(handler, ordersApiToken, { id }, context)
    return {
      id,
      ...invocation,
      exp: invocation.token === undefined ? undefined : jwtExpiry(invocation.token),
      returnedAt: Date.now(),
      events: events.map((e) => e.type),
      storeErrorMessages: events.filter((e) => e.type === 'store-error').map((e) => String(e.message)),
    }
  }

  process.on('message', (message: ContainerMessage) => {
    if (message.type !== 'invoke') return
    run(message.id).then((report) => send({ type: 'result', report }))
  })
  // The parent is gone: so is the container.
  process.on('disconnect', () => process.exit(0))
  send({ type: 'ready', key: ordersApiToken.key })
}

if (process.env.TOKENSTASH_CONTAINER !== undefined) runContainer(JSON.parse(process.env.TOKENSTASH_CONTAINER))
