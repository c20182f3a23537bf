import middy from '@middy/core'
import { clientCredentials, createTokenProvider, type TokenEvent } from '@tokenstash/core'
import { m2mToken } from '@tokenstash/middy'
import { redisStore } from '@tokenstash/store-redis'
import type { Context } from 'aws-lambda'
import Redis from 'ioredis'
import { invoke, lambdaContext } from '../../packages/middy/test/lambda'
import type { ContainerConfig, ContainerMessage, InvocationReport } from './lambda-container'
import { jwtExpiry } from './reliability'

// One Lambda container, as a process of its own: the init phase (module load) builds a Middy
// handler with m2mToken and a Redis store, whose prefetch starts at once; then it plays the Lambda
// runtime's loop, one invocation at a time, each asked for over IPC by the parent. Started by
// `startLambdaContainer` (lambda-container.ts), which freezes and thaws it with SIGSTOP/SIGCONT.

const config = JSON.parse(process.env.TOKENSTASH_CONTAINER ?? '{}') as ContainerConfig
const send = (message: ContainerMessage) => process.send?.(message)

const client = new Redis(config.redisPort, '127.0.0.1')
// A dead socket is the point of the exercise; the provider reports store failures through events.
client.on('error', () => {})

let events: TokenEvent[] = []
const ordersApiToken = createTokenProvider({
  source: clientCredentials({
    tokenEndpoint: config.tokenEndpoint,
    clientId: config.clientId,
    clientSecret: config.clientSecret,
  }),
  store: redisStore({ client }),
  encryptionKey: config.encryptionKey,
  namespace: config.namespace,
  storeTimeoutMs: config.storeTimeoutMs,
  // One host clock (every container is a process on this machine): short-lived tokens are shared.
  clockSkewToleranceMs: 0,
  onEvent: (e) => events.push(e),
})

const handler = middy(
  async (_event: unknown, context: Context & { ordersApiToken: string }) => context.ordersApiToken,
).use(m2mToken({ fetchData: { ordersApiToken }, disablePrefetch: config.disablePrefetch ?? false }))

async function run(id: number): Promise<InvocationReport> {
  events = []
  const errorsBefore = ordersApiToken.stats().storeErrors
  const started = performance.now()
  let token: string | undefined
  let error: InvocationReport['error']
  try {
    token = await invoke(handler, { id }, lambdaContext({ timeoutMs: config.invocationTimeoutMs ?? 30_000 }))
  } catch (err) {
    const e = err as { name?: string; code?: string; message?: string }
    error = { name: String(e?.name), code: e?.code, message: String(e?.message) }
  }
  const durationMs = Math.round(performance.now() - started)
  return {
    id,
    token,
    error,
    exp: token === undefined ? undefined : jwtExpiry(token),
    returnedAt: Date.now(),
    durationMs,
    // Every store call that failed while this invocation ran (the provider counts each; its
    // `store-error` event is once per outage and says whether it was a timeout).
    storeErrors: ordersApiToken.stats().storeErrors - errorsBefore,
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
