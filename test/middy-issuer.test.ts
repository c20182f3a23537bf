import middy from '@middy/core'
import {
  clientCredentials,
  createTokenProvider,
  TokenEndpointError,
  type TokenProviderOptions,
  TokenstashError,
} from '@tokenstash/core'
import { m2mToken, TokenUnavailableError } from '@tokenstash/middy'
import type { Context } from 'aws-lambda'
import { events, invoke, lambdaContext } from '../packages/middy/test/lambda'
import { tokenVerifier } from './support/issuer'
import { useServers } from './support/servers'

// m2mToken in real Middy handlers, with real providers talking to a real OAuth2 server; every
// count of token requests is what the server itself saw.

const FAST_RETRY = { retries: 0, minTimeoutMs: 10, maxTimeoutMs: 50 }

type Ctx = Context & { ordersApiToken: string; billingApiToken: string }

/** Waits for a condition the test cannot await directly (a request another task sends). */
async function until(check: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

describe('m2mToken against a real OAuth2 server', () => {
  const servers = useServers({ issuer: { accessTokenTtlSeconds: 300 }, resetEach: true })
  const verify = tokenVerifier(() => servers.issuer)

  function provider(client: 'basic' | 'post' = 'basic', options: Partial<TokenProviderOptions> = {}) {
    const { clientId, clientSecret, authMethod } = servers.issuer.clients[client]
    return createTokenProvider({
      source: clientCredentials({
        tokenEndpoint: servers.issuer.tokenEndpoint,
        clientId,
        clientSecret,
        authMethod,
      }),
      retry: FAST_RETRY,
      ...options,
    })
  }

  it('should send the token request before the first invocation and none on a warm one', async () => {
    const ordersApiToken = provider()
    const seen: string[] = []
    const handler = middy(async (_event: unknown, context: Ctx) => {
      seen.push(context.ordersApiToken)
      return { statusCode: 200 }
    }).use(m2mToken({ fetchData: { ordersApiToken } }))

    await until(async () => (await servers.issuer.tokenRequests()) === 1, 'the prefetch to reach the server')
    await expect(invoke(handler, events.apiGatewayV2(), lambdaContext())).resolves.toEqual({
      statusCode: 200,
    })
    await expect(invoke(handler, events.apiGatewayV2(), lambdaContext())).resolves.toEqual({
      statusCode: 200,
    })

    expect(await servers.issuer.tokenRequests()).toBe(1)
    expect(seen[1]).toBe(seen[0])
    expect(await verify(seen[0]!)).toMatchObject({ client_id: servers.issuer.clients.basic.clientId })
    expect(ordersApiToken.stats()).toMatchObject({ fetches: 1 })
  })

  it('should fetch several tokens, one request per client, and put each on the context', async () => {
    const handler = middy(async (_event: unknown, context: Ctx) => [
      context.ordersApiToken,
      context.billingApiToken,
    ]).use(m2mToken({ fetchData: { ordersApiToken: provider('basic'), billingApiToken: provider('post') } }))
    const [orders, billing] = await invoke(handler, events.sqs(), lambdaContext())
    await invoke(handler, events.sqs(), lambdaContext())

    expect(await servers.issuer.tokenRequests(servers.issuer.clients.basic.clientId)).toBe(1)
    expect(await servers.issuer.tokenRequests(servers.issuer.clients.post.clientId)).toBe(1)
    expect(await verify(orders!)).toMatchObject({ client_id: servers.issuer.clients.basic.clientId })
    expect(await verify(billing!)).toMatchObject({ client_id: servers.issuer.clients.post.clientId })
  })

  it('should keep the token off the context with setToContext: false and hand it through request.internal', async () => {
    const handler = middy(async (_event: unknown, context: Ctx) => ({
      onContext: 'ordersApiToken' in context,
    }))
      .use(m2mToken({ fetchData: { ordersApiToken: provider() }, setToContext: false }))
      .before(async (request) => {
        // A later middleware (or Middy's getInternal) reads it from request.internal.
        await verify(request.internal.ordersApiToken)
      })
    await expect(invoke(handler, events.eventBridge(), lambdaContext())).resolves.toEqual({
      onContext: false,
    })
  })

  it('should recover from a failed prefetch on the first invocation', async () => {
    await servers.issuer.failNext(1, { status: 503 })
    const handler = middy(async (_event: unknown, context: Ctx) => context.ordersApiToken).use(
      m2mToken({ fetchData: { ordersApiToken: provider() } }),
    )
    await until(
      async () => (await servers.issuer.tokenRequestLog()).some((r) => r.status === 503),
      'the failed prefetch',
    )
    const token = await invoke(handler, events.direct(), lambdaContext())
    await verify(token)
    expect(await servers.issuer.tokenRequests()).toBe(2)
  })

  it('should fail an invocation with the typed error, answer 503 through onError, and recover on the next one', async () => {
    const { clientSecret } = servers.issuer.clients.basic
    const errors: unknown[] = []
    const handler = middy(async (_event: unknown, context: Ctx) => ({
      statusCode: 200,
      body: String(context.ordersApiToken.length),
    }))
      .use(m2mToken({ fetchData: { ordersApiToken: provider() }, disablePrefetch: true }))
      .onError(async (request) => {
        errors.push(request.error)
        if (request.error instanceof TokenstashError)
          request.response = { statusCode: 503, body: 'try again' }
      })

    await servers.issuer.failNext(1, { status: 503, retryAfterSeconds: 0 })
    await expect(invoke(handler, events.apiGatewayV2(), lambdaContext())).resolves.toEqual({
      statusCode: 503,
      body: 'try again',
    })
    const err = errors[0] as TokenEndpointError
    expect(err).toBeInstanceOf(TokenEndpointError)
    expect(err.status).toBe(503)
    expect(err.message).not.toContain(clientSecret)

    await expect(invoke(handler, events.apiGatewayV2(), lambdaContext())).resolves.toMatchObject({
      statusCode: 200,
    })
    expect(await servers.issuer.tokenRequests()).toBe(2)
  })

  it('should stop waiting for a slow server before the Lambda deadline and let the next invocation join the same request', async () => {
    // The first answer takes 1.5 s and is a 503; the provider's retry then gets a token.
    await servers.issuer.failNext(1, { status: 503, delayMs: 1_500 })
    const ordersApiToken = provider('basic', { retry: { retries: 1, minTimeoutMs: 10, maxTimeoutMs: 20 } })
    const handler = middy(async (_event: unknown, context: Ctx) => context.ordersApiToken).use(
      m2mToken({ fetchData: { ordersApiToken }, disablePrefetch: true, remainingTimeMarginMs: 300 }),
    )

    const err = await invoke(handler, events.sqs(), lambdaContext({ timeoutMs: 800 })).catch(
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(TokenUnavailableError)
    expect(err).toMatchObject({ reason: 'timeout', tokenNames: ['ordersApiToken'] })
    // 800 ms left minus the 300 ms margin, less whatever the clock moved before the wait began.
    expect((err as TokenUnavailableError).waitedMs).toBeLessThanOrEqual(500)
    expect(await servers.issuer.tokenRequests()).toBe(1)

    const token = await invoke(handler, events.sqs(), lambdaContext({ timeoutMs: 10_000 }))
    await verify(token)
    // The 503 and the retry of the same fetch: the abandoned wait did not cause a request of its own.
    expect(await servers.issuer.tokenRequests()).toBe(2)
  })
})
