// @tokenstash/middy: what m2mToken adds to each invocation of a warm container, measured side by
// side in one run against the same Middy handler without it. The provider is the real one
// (createTokenProvider + clientCredentials) with its token fetched once from the embedded OAuth2
// server; every invocation gets a fresh Lambda context, as the runtime gives it.
import { randomUUID } from 'node:crypto'
import { cpus } from 'node:os'
import middy from '@middy/core'
import { clientCredentials, createTokenProvider } from '@tokenstash/core'
import { m2mToken } from '@tokenstash/middy'
import type { Context } from 'aws-lambda'
import { Bench } from 'tinybench'
import { startServers } from '../../test/support/servers'

const ROUNDS = 3
const out = (line = '') => process.stdout.write(`${line}\n`)
const fmt = (x: number) => Math.round(x).toLocaleString('en-US')

function context(): Context {
  const deadline = Date.now() + 30_000
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: 'bench',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:bench',
    memoryLimitInMB: '1024',
    awsRequestId: randomUUID(),
    logGroupName: '/aws/lambda/bench',
    logStreamName: '2026/11/22/[$LATEST]bench',
    getRemainingTimeInMillis: () => deadline - Date.now(),
    done: () => {},
    fail: () => {},
    succeed: () => {},
  }
}

const event = {
  version: '2.0',
  routeKey: 'GET /orders/{id}',
  rawPath: '/orders/42',
  pathParameters: { id: '42' },
}

out(`machine: ${cpus().length} × ${cpus()[0]?.model.trim()}, node ${process.version}`)
const servers = await startServers({ issuer: { accessTokenTtlSeconds: 3_600 } })
const { issuer } = servers
try {
  const provider = (client: 'basic' | 'post') => {
    const { clientId, clientSecret, authMethod } = issuer.clients[client]
    return createTokenProvider({
      source: clientCredentials({ tokenEndpoint: issuer.tokenEndpoint, clientId, clientSecret, authMethod }),
    })
  }
  const ordersApiToken = provider('basic')
  const billingApiToken = provider('post')

  const body = async (_event: unknown, ctx: Context & Record<string, unknown>) => ({
    statusCode: 200,
    body: typeof ctx.ordersApiToken === 'string' ? 'with token' : 'no token',
  })
  // Called as the Lambda runtime calls a handler: with a plain context the middlewares then fill.
  type Invoke = (event: unknown, context: Context) => Promise<unknown>
  const bare = middy(body) as unknown as Invoke
  const one = middy(body).use(m2mToken({ fetchData: { ordersApiToken } })) as unknown as Invoke
  const two = middy(body).use(
    m2mToken({ fetchData: { ordersApiToken, billingApiToken } }),
  ) as unknown as Invoke
  // The simplest hand-written alternative: await the provider in a `before` of one's own.
  const handWritten = middy(body).before(async (request) => {
    ;(request.context as unknown as Record<string, unknown>).ordersApiToken = await ordersApiToken.getToken()
  }) as unknown as Invoke

  // Cold start: the prefetches, then one invocation each, so the bench below sees warm containers.
  for (const h of [one, two, handWritten]) await h(event, context())
  const coldRequests = await issuer.tokenRequests()

  const tasks = [
    ['bare middy', bare],
    ['middy + m2mToken (1 token)', one],
    ['middy + m2mToken (2 tokens)', two],
    ['middy + hand-written before (1 token)', handWritten],
  ] as const
  const rounds: number[][] = []
  for (let round = 0; round < ROUNDS; round++) {
    const bench = new Bench({ time: 1_500, warmupTime: 300 })
    for (const [name, h] of tasks) {
      bench.add(name, async () => {
        await h(event, context())
      })
    }
    await bench.run()
    rounds.push(bench.tasks.map((t) => t.result!.throughput.mean))
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
  const perTask = tasks.map((_, i) => median(rounds.map((r) => r[i]!)))
  const ratios = tasks.map((_, i) => median(rounds.map((r) => r[i]! / r[0]!)))

  out(`\nwarm invocations, ops/s (median of ${ROUNDS} rounds of 1.5 s per task, tasks interleaved per round)`)
  for (const [i, [name]] of tasks.entries()) {
    const costUs = (1 / perTask[i]! - 1 / perTask[0]!) * 1e6
    out(
      `  ${name.padEnd(40)} ${fmt(perTask[i]!).padStart(10)} ops/s   ratio to bare ${ratios[i]!.toFixed(2)}` +
        (i === 0 ? '' : `   ~${costUs.toFixed(2)} µs per invocation`),
    )
  }
  const total = await issuer.tokenRequests()
  out(
    `\ntoken requests at the OAuth2 server: ${total} (cold start: ${coldRequests}; the warm benchmark made none)`,
  )
  if (total !== coldRequests) {
    out('FAILED: the warm benchmark reached the token endpoint')
    process.exitCode = 1
  }
} finally {
  await servers.stop()
}
