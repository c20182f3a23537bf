import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import middy from '@middy/core'
import { getInternal } from '@middy/util'
import {
  ConfigError,
  createTokenProvider,
  RateLimitedError,
  TokenEndpointError,
  type TokenProvider,
  type TokenSet,
  TokenstashError,
} from '@tokenstash/core'
import { DEFAULTS, m2mToken, TokenUnavailableError } from '@tokenstash/middy'
import type { Context } from 'aws-lambda'
import nock from 'nock'
import { FakeProvider } from './fake-provider'
import { events, invoke, lambdaContext } from './lambda'

type Ctx = Context & Record<string, unknown>

/** Set per jest project: these tests run once on Middy 6 and once on Middy 5. */
declare const MIDDY_MAJOR: number

// Lets every already-queued promise job (and the jobs they queue) run.
const flush = () => new Promise<void>((resolve) => setImmediate(resolve))

beforeAll(() => nock.disableNetConnect())
afterAll(() => nock.enableNetConnect())
afterEach(() => jest.useRealTimers())

function endpointError(): TokenEndpointError {
  return new TokenEndpointError('The token endpoint answered 503; retried 3 times', {
    endpoint: 'https://idp.example.com/oauth/token',
    status: 503,
    retryable: true,
  })
}

/**
 * A handler that records in `seen` the token m2mToken put in its context (from a fresh provider,
 * `orders`); `invokeOnce` invokes it with a direct event and a fresh Lambda context.
 */
function tokenRecordingHandler() {
  const orders = new FakeProvider('orders')
  const seen: string[] = []
  const handler = middy(async (_event: unknown, context: Ctx) => {
    seen.push(context.ordersApiToken as string)
  }).use(m2mToken({ fetchData: { ordersApiToken: orders } }))
  return { orders, seen, invokeOnce: () => invoke(handler, events.direct(), lambdaContext()) }
}

/**
 * Invokes, on fake timers, a handler returning the token that m2mToken (with `options`) fetched
 * from a held provider; after `waitMs` the provider answers `token`. Resolves to what the handler
 * returned.
 */
async function tokenAfterHeldWait({
  context,
  waitMs,
  token,
  options = {},
  middyOptions,
}: {
  context: Context
  waitMs: number
  token: string
  options?: Omit<Parameters<typeof m2mToken>[0], 'fetchData'>
  middyOptions?: Parameters<typeof middy>[1]
}): Promise<unknown> {
  jest.useFakeTimers({ doNotFake: ['nextTick', 'queueMicrotask', 'setImmediate'] })
  const orders = new FakeProvider('orders').hold()
  const handler = middy(async (_event: unknown, c: Ctx) => c.ordersApiToken, middyOptions).use(
    m2mToken({ fetchData: { ordersApiToken: orders }, ...options }),
  )
  const outcome = invoke(handler, events.direct(), context)
  await jest.advanceTimersByTimeAsync(waitMs)
  orders.held[0]!.resolve(token)
  return outcome
}

describe('m2mToken', () => {
  it(`should run on the @middy/core major this jest project is for (${MIDDY_MAJOR})`, () => {
    const entry = require.resolve('@middy/core')
    const pkg = JSON.parse(readFileSync(join(dirname(entry), 'package.json'), 'utf8')) as { version: string }
    expect(Number(pkg.version.split('.')[0])).toBe(MIDDY_MAJOR)
  })

  describe('prefetch', () => {
    it('should start the token request when the middleware is created, before any invocation', async () => {
      const orders = new FakeProvider('orders').hold()
      const seen: string[] = []
      const handler = middy(async (_event: unknown, context: Ctx) => {
        seen.push(context.ordersApiToken as string)
        return { statusCode: 200 }
      }).use(m2mToken({ fetchData: { ordersApiToken: orders } }))

      expect(orders.requests).toBe(1)
      const invocation = invoke(handler, events.direct(), lambdaContext())
      await flush()
      expect(seen).toEqual([])
      orders.held[0]!.resolve('orders-token-1')
      await expect(invocation).resolves.toEqual({ statusCode: 200 })
      expect(seen).toEqual(['orders-token-1'])
      expect(orders.requests).toBe(1)
    })

    it('should make no token request on a warm second invocation', async () => {
      const { orders, seen, invokeOnce } = tokenRecordingHandler()
      await invokeOnce()
      const requestsAfterFirst = orders.requests
      await invokeOnce()
      expect(requestsAfterFirst).toBe(1)
      expect(orders.requests).toBe(1)
      expect(seen).toEqual(['orders-token-1', 'orders-token-1'])
    })

    it('should not serve a prefetched token that went stale before the first invocation', async () => {
      // Provisioned concurrency: init runs long before the first invocation.
      const orders = new FakeProvider('orders')
      const handler = middy(async (_event: unknown, context: Ctx) => context.ordersApiToken).use(
        m2mToken({ fetchData: { ordersApiToken: orders } }),
      )
      await flush()
      orders.expire()
      await expect(invoke(handler, events.direct(), lambdaContext())).resolves.toBe('orders-token-2')
    })

    it('should ask the provider on every invocation after the first, so a refreshed token is used', async () => {
      const { orders, seen, invokeOnce } = tokenRecordingHandler()
      await invokeOnce()
      orders.expire()
      await invokeOnce()
      expect(seen).toEqual(['orders-token-1', 'orders-token-2'])
      expect(orders.calls).toBe(2)
    })

    it('should not ask for a token before the first invocation with disablePrefetch', async () => {
      const orders = new FakeProvider('orders')
      const handler = middy(async (_event: unknown, context: Ctx) => context.ordersApiToken).use(
        m2mToken({ fetchData: { ordersApiToken: orders }, disablePrefetch: true }),
      )
      await flush()
      expect(orders.calls).toBe(0)
      await expect(invoke(handler, events.direct(), lambdaContext())).resolves.toBe('orders-token-1')
      expect(orders.requests).toBe(1)
    })

    // Jest fails the running test on any unhandled rejection, so these tests also fail if one leaks.
    it('should keep a failed prefetch from surfacing as an unhandled rejection and ask again on the first invocation', async () => {
      const orders = new FakeProvider('orders').failWith(endpointError())
      const handler = middy(async (_event: unknown, context: Ctx) => context.ordersApiToken).use(
        m2mToken({ fetchData: { ordersApiToken: orders } }),
      )
      await flush()
      expect(orders.requests).toBe(1)
      await expect(invoke(handler, events.direct(), lambdaContext())).resolves.toBe('orders-token-2')
      expect(orders.requests).toBe(2)
    })

    it('should not throw at creation when a provider throws synchronously, and fail the invocation with a typed error', async () => {
      const broken: TokenProvider = {
        key: 'broken',
        getToken: () => {
          throw new Error('boom')
        },
        getTokenSet: () => Promise.reject(new Error('boom')),
        invalidate: async () => {},
        stats: () => ({ l1Hits: 0, l2Hits: 0, fetches: 0, fetchErrors: 0, leaseWaits: 0, storeErrors: 0 }),
      }
      const handler = middy(async () => 'ok').use(m2mToken({ fetchData: { brokenToken: broken } }))
      await flush()
      const err = await invoke(handler, events.direct(), lambdaContext()).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(TokenUnavailableError)
      expect(err).toMatchObject({
        code: 'ERR_TOKEN_UNAVAILABLE',
        reason: 'provider-error',
        tokenNames: ['brokenToken'],
      })
      expect((err as Error).cause).toEqual(new Error('boom'))
    })
  })

  describe('several tokens', () => {
    it('should put every token on the context under its name', async () => {
      const orders = new FakeProvider('orders')
      const billing = new FakeProvider('billing')
      const handler = middy(async (_event: unknown, context: Ctx) => [
        context.ordersApiToken,
        context.billingApiToken,
      ]).use(m2mToken({ fetchData: { ordersApiToken: orders, billingApiToken: billing } }))
      await expect(invoke(handler, events.direct(), lambdaContext())).resolves.toEqual([
        'orders-token-1',
        'billing-token-1',
      ])
      await expect(invoke(handler, events.direct(), lambdaContext())).resolves.toEqual([
        'orders-token-1',
        'billing-token-1',
      ])
      expect([orders.requests, billing.requests]).toEqual([1, 1])
    })

    it('should request all tokens of one invocation in parallel', async () => {
      const orders = new FakeProvider('orders').hold()
      const billing = new FakeProvider('billing').hold()
      const audit = new FakeProvider('audit').hold()
      const handler = middy(async (_event: unknown, context: Ctx) => [
        context.ordersApiToken,
        context.billingApiToken,
        context.auditApiToken,
      ]).use(
        m2mToken({
          fetchData: { ordersApiToken: orders, billingApiToken: billing, auditApiToken: audit },
          disablePrefetch: true,
        }),
      )
      const invocation = invoke(handler, events.direct(), lambdaContext())
      await flush()
      // All three are in flight although none has answered yet.
      expect([orders.requests, billing.requests, audit.requests]).toEqual([1, 1, 1])
      audit.held[0]!.resolve('audit-1')
      billing.held[0]!.resolve('billing-1')
      orders.held[0]!.resolve('orders-1')
      await expect(invocation).resolves.toEqual(['orders-1', 'billing-1', 'audit-1'])
    })

    it('should fail with the first failing token and leave no unhandled rejection from the others', async () => {
      const orders = new FakeProvider('orders').failWith(endpointError())
      const billing = new FakeProvider('billing').failWith(new Error('socket hang up'))
      const handler = middy(async () => 'ok').use(
        m2mToken({ fetchData: { ordersApiToken: orders, billingApiToken: billing }, disablePrefetch: true }),
      )
      const err = await invoke(handler, events.direct(), lambdaContext()).catch((e: unknown) => e)
      await flush()
      expect(err).toBeInstanceOf(TokenEndpointError)
      expect([orders.requests, billing.requests]).toEqual([1, 1])
    })
    it('should leave no unhandled rejection when several providers reject at once', async () => {
      const rejecting = (key: string, err: unknown): TokenProvider => ({
        key,
        getToken: () => Promise.reject(err),
        getTokenSet: () => Promise.reject(err),
        invalidate: async () => {},
        stats: () => ({ l1Hits: 0, l2Hits: 0, fetches: 0, fetchErrors: 0, leaseWaits: 0, storeErrors: 0 }),
      })
      const first = endpointError()
      const handler = middy(async () => 'ok').use(
        m2mToken({
          fetchData: {
            ordersApiToken: rejecting('orders', first),
            billingApiToken: rejecting('billing', new Error('second')),
            auditApiToken: rejecting('audit', new Error('third')),
          },
          disablePrefetch: true,
        }),
      )
      await expect(invoke(handler, events.direct(), lambdaContext())).rejects.toBe(first)
      await flush()
    })
  })

  describe('setToContext', () => {
    it('should put the bearer string on the context and in request.internal by default', async () => {
      expect(DEFAULTS.setToContext).toBe(true)
      const orders = new FakeProvider('orders')
      const internals: unknown[] = []
      const handler = middy(async (_event: unknown, context: Ctx) => context.ordersApiToken)
        .use(m2mToken({ fetchData: { ordersApiToken: orders } }))
        .before(async (request) => {
          internals.push(request.internal.ordersApiToken)
        })
      await expect(invoke(handler, events.direct(), lambdaContext())).resolves.toBe('orders-token-1')
      expect(internals).toEqual(['orders-token-1'])
    })

    it('should leave the context alone with setToContext: false and still fill request.internal', async () => {
      const orders = new FakeProvider('orders')
      const internals: unknown[] = []
      const context = lambdaContext()
      const keysBefore = Object.keys(context).sort()
      const handler = middy(async (_event: unknown, ctx: Ctx) => ctx.ordersApiToken ?? 'absent')
        .use(m2mToken({ fetchData: { ordersApiToken: orders }, setToContext: false }))
        .before(async (request) => {
          internals.push(request.internal.ordersApiToken)
        })
      await expect(invoke(handler, events.direct(), context)).resolves.toBe('absent')
      expect(Object.keys(context).sort()).toEqual(keysBefore)
      expect(internals).toEqual(['orders-token-1'])
    })
  })

  describe('getInternal', () => {
    it("should hand every token to Middy's getInternal, by name and renamed", async () => {
      const orders = new FakeProvider('orders')
      const billing = new FakeProvider('billing')
      const read: unknown[] = []
      const handler = middy(async () => 'ok')
        .use(
          m2mToken({ fetchData: { ordersApiToken: orders, billingApiToken: billing }, setToContext: false }),
        )
        .before(async (request) => {
          read.push(await getInternal(['ordersApiToken', 'billingApiToken'], request))
          read.push(await getInternal({ bearer: 'billingApiToken' }, request))
        })
      await invoke(handler, events.direct(), lambdaContext())
      expect(read).toEqual([
        { ordersApiToken: 'orders-token-1', billingApiToken: 'billing-token-1' },
        { bearer: 'billing-token-1' },
      ])
    })
  })

  describe('event shapes', () => {
    it.each(Object.entries(events))(
      'should neither touch a %s event nor the response',
      async (_name, make) => {
        const orders = new FakeProvider('orders')
        const event = make()
        const pristine = structuredClone(event)
        const response = {
          statusCode: 200,
          headers: { 'content-type': 'application/json' },
          body: '{"ok":true}',
        }
        let received: unknown
        const handler = middy(async (e: unknown, context: Ctx) => {
          received = e
          expect(context.ordersApiToken).toBe('orders-token-1')
          return response
        }).use(m2mToken({ fetchData: { ordersApiToken: orders } }))
        const result = await invoke(handler, event, lambdaContext())
        expect(received).toBe(event)
        expect(event).toEqual(pristine)
        expect(result).toBe(response)
        expect(result).toEqual({
          statusCode: 200,
          headers: { 'content-type': 'application/json' },
          body: '{"ok":true}',
        })
      },
    )
  })

  describe('remaining-time cap', () => {
    it('should stop waiting margin ms before the Lambda deadline with a typed timeout error', async () => {
      jest.useFakeTimers({ doNotFake: ['nextTick', 'queueMicrotask', 'setImmediate'] })
      const orders = new FakeProvider('orders').hold()
      const handlerRan = jest.fn()
      const handler = middy(handlerRan).use(
        m2mToken({ fetchData: { ordersApiToken: orders }, remainingTimeMarginMs: 500 }),
      )
      const outcome = invoke(handler, events.sqs(), lambdaContext({ timeoutMs: 3_000 })).then(
        () => 'resolved',
        (e: unknown) => e,
      )
      await jest.advanceTimersByTimeAsync(2_499)
      await flush()
      expect(orders.held).toHaveLength(1)
      let settled = false
      void outcome.then(() => {
        settled = true
      })
      await flush()
      expect(settled).toBe(false)

      await jest.advanceTimersByTimeAsync(1)
      const err = await outcome
      expect(err).toBeInstanceOf(TokenUnavailableError)
      expect(err).toMatchObject({
        code: 'ERR_TOKEN_UNAVAILABLE',
        reason: 'timeout',
        tokenNames: ['ordersApiToken'],
        waitedMs: 2_500,
      })
      expect((err as Error).message).toMatch(/`ordersApiToken`.*2500 ms.*500 ms before the Lambda times out/)
      expect(handlerRan).not.toHaveBeenCalled()
    })

    it('should let the next invocation use the token the abandoned request brought back', async () => {
      jest.useFakeTimers({ doNotFake: ['nextTick', 'queueMicrotask', 'setImmediate'] })
      const orders = new FakeProvider('orders').hold()
      const handler = middy(async (_event: unknown, context: Ctx) => context.ordersApiToken).use(
        m2mToken({ fetchData: { ordersApiToken: orders } }),
      )
      const first = invoke(handler, events.direct(), lambdaContext({ timeoutMs: 1_000 })).catch(
        (e: unknown) => e,
      )
      await jest.advanceTimersByTimeAsync(1_000)
      expect(await first).toBeInstanceOf(TokenUnavailableError)
      orders.held[0]!.resolve('late-token')
      await flush()
      await expect(invoke(handler, events.direct(), lambdaContext())).resolves.toBe('late-token')
      expect(orders.requests).toBe(1)
    })

    it('should let onError map the failure to a 503 without a token in the response', async () => {
      jest.useFakeTimers({ doNotFake: ['nextTick', 'queueMicrotask', 'setImmediate'] })
      const orders = new FakeProvider('orders').hold()
      const handler = middy(async () => ({ statusCode: 200, body: 'ok' }))
        .use(m2mToken({ fetchData: { ordersApiToken: orders } }))
        .onError(async (request) => {
          if (request.error instanceof TokenstashError) {
            request.response = { statusCode: 503, body: JSON.stringify({ code: request.error.code }) }
          }
        })
      const outcome = invoke(handler, events.apiGatewayV2(), lambdaContext({ timeoutMs: 2_000 }))
      await jest.advanceTimersByTimeAsync(1_500)
      await expect(outcome).resolves.toEqual({ statusCode: 503, body: '{"code":"ERR_TOKEN_UNAVAILABLE"}' })
    })

    it('should fail at once when less than the margin is left and the token is not ready', async () => {
      const orders = new FakeProvider('orders').hold()
      const handler = middy(async () => 'ok').use(
        m2mToken({
          fetchData: { ordersApiToken: orders },
          remainingTimeMarginMs: 500,
          disablePrefetch: true,
        }),
      )
      const err = await invoke(handler, events.direct(), lambdaContext({ timeoutMs: 300 })).catch(
        (e: unknown) => e,
      )
      expect(err).toMatchObject({ reason: 'timeout', waitedMs: 0, tokenNames: ['ordersApiToken'] })
    })

    it('should name only the tokens that were still missing', async () => {
      jest.useFakeTimers({ doNotFake: ['nextTick', 'queueMicrotask', 'setImmediate'] })
      const orders = new FakeProvider('orders').hold()
      const billing = new FakeProvider('billing').hold()
      const handler = middy(async () => 'ok').use(
        m2mToken({ fetchData: { ordersApiToken: orders, billingApiToken: billing }, disablePrefetch: true }),
      )
      const outcome = invoke(handler, events.direct(), lambdaContext({ timeoutMs: 1_500 })).catch(
        (e: unknown) => e,
      )
      await flush()
      orders.held[0]!.resolve('orders-1')
      await jest.advanceTimersByTimeAsync(1_000)
      expect(await outcome).toMatchObject({ reason: 'timeout', tokenNames: ['billingApiToken'] })
    })

    it('should serve the current token within the time cap while an inline refresh hangs, and land the refresh after recovery', async () => {
      let t = 1_700_000_000_000
      const now = () => t
      let calls = 0
      let hang = false
      const timeouts: Array<(err: Error) => void> = []
      const source = {
        id: 'hanging-idp',
        async fetchToken(): Promise<TokenSet> {
          calls++
          const issuedAt = now()
          // A hanging request ends when its own timeout fires: here, when the test says.
          if (hang) await new Promise<void>((_, reject) => timeouts.push(reject))
          return {
            accessToken: `tok-${calls}`,
            tokenType: 'Bearer',
            issuedAt,
            expiresAt: issuedAt + 3_600_000,
          }
        },
      }
      const orders = createTokenProvider({ source, now, jitter: 0, backgroundRefresh: false })
      const handler = middy(async (_event: unknown, context: Ctx) => context.ordersApiToken, {
        timeoutEarlyInMillis: 0,
      }).use(m2mToken({ fetchData: { ordersApiToken: orders }, remainingTimeMarginMs: 500 }))
      // Invocations 1-4: fresh token from memory.
      for (let i = 0; i < 4; i++)
        await expect(invoke(handler, events.direct(), lambdaContext())).resolves.toBe('tok-1')
      // The identity provider hangs; the token enters its refresh window (still good for 14 min).
      hang = true
      t += 0.8 * 3_600_000
      // Invocations 5, 6 and 7, each with a 1 s cap (1.5 s timeout − 500 ms margin), shorter than
      // the provider's own inline bound: the current token, not a TokenUnavailableError.
      for (let i = 0; i < 3; i++) {
        await expect(invoke(handler, events.direct(), lambdaContext({ timeoutMs: 1_500 }))).resolves.toBe(
          'tok-1',
        )
      }
      expect(calls).toBe(2)
      // The identity provider recovers, the hung request times out, and the next refresh lands.
      hang = false
      for (const fail of timeouts)
        fail(new TokenEndpointError('timed out', { endpoint: 'e', retryable: false }))
      await flush()
      t += 60_000
      await invoke(handler, events.direct(), lambdaContext({ timeoutMs: 1_500 }))
      await expect(invoke(handler, events.direct(), lambdaContext())).resolves.toBe('tok-3')
    })

    it('should not consult the deadline when the token is already in memory', async () => {
      const orders = new FakeProvider('orders')
      const handler = middy(async (_event: unknown, context: Ctx) => context.ordersApiToken, {
        timeoutEarlyInMillis: 0,
      }).use(m2mToken({ fetchData: { ordersApiToken: orders } }))
      await invoke(handler, events.direct(), lambdaContext())
      const timers = jest.spyOn(global, 'setTimeout')
      try {
        await expect(invoke(handler, events.direct(), lambdaContext({ timeoutMs: 0 }))).resolves.toBe(
          'orders-token-1',
        )
        expect(timers).not.toHaveBeenCalled()
      } finally {
        timers.mockRestore()
      }
    })

    it('should wait as long as the provider takes with remainingTimeMarginMs: false', async () => {
      const context = lambdaContext({ timeoutMs: 1_000 })
      const wait = { context, waitMs: 5_000, token: 'slow-token', middyOptions: { timeoutEarlyInMillis: 0 } }
      await expect(tokenAfterHeldWait({ ...wait, options: { remainingTimeMarginMs: false } })).resolves.toBe(
        'slow-token',
      )
    })

    it('should not cap the wait when the context has no getRemainingTimeInMillis', async () => {
      const wait = { context: {} as Context, waitMs: 60_000, token: 'local-token' }
      await expect(tokenAfterHeldWait(wait)).resolves.toBe('local-token')
    })

    it('should not cap the wait when getRemainingTimeInMillis gives no number', async () => {
      const sloppy = { ...lambdaContext(), getRemainingTimeInMillis: () => undefined as unknown as number }
      const wait = {
        context: sloppy,
        waitMs: 60_000,
        token: 'sloppy-token',
        middyOptions: { timeoutEarlyInMillis: 0 },
      }
      await expect(tokenAfterHeldWait(wait)).resolves.toBe('sloppy-token')
    })

    it('should not cap the wait when getRemainingTimeInMillis throws, and leave no rejection unhandled', async () => {
      const unhandled: unknown[] = []
      const onUnhandled = (reason: unknown) => unhandled.push(reason)
      process.on('unhandledRejection', onUnhandled)
      try {
        const orders = new FakeProvider('orders').hold()
        const handler = middy(async (_event: unknown, context: Ctx) => context.ordersApiToken, {
          timeoutEarlyInMillis: 0,
        }).use(m2mToken({ fetchData: { ordersApiToken: orders }, disablePrefetch: true }))
        // A wrapper or test double whose clock is broken.
        const broken = {
          ...lambdaContext(),
          getRemainingTimeInMillis: (): number => {
            throw new Error('no deadline in this test double')
          },
        }
        const first = invoke(handler, events.direct(), broken)
        await flush()
        orders.held[0]!.resolve('wrapped-token')
        await expect(first).resolves.toBe('wrapped-token')
        // The token failing later, while the clock still throws: the caller gets the typed error,
        // nothing escapes as an unhandled rejection.
        orders.expire()
        const second = invoke(handler, events.direct(), broken).catch((e: unknown) => e)
        await flush()
        orders.held[1]!.reject(endpointError())
        expect(await second).toBeInstanceOf(TokenEndpointError)
        await flush()
        await flush()
        expect(unhandled).toEqual([])
      } finally {
        process.off('unhandledRejection', onUnhandled)
      }
    })

    it('should work with a provider whose answers take a few promise jobs', async () => {
      let requests = 0
      const slowish: TokenProvider = {
        key: 'slowish',
        async getToken() {
          await null
          await null
          requests++
          return 'slowish-token'
        },
        getTokenSet: () => Promise.reject(new Error('unused')),
        invalidate: async () => {},
        stats: () => ({
          l1Hits: 0,
          l2Hits: 0,
          fetches: requests,
          fetchErrors: 0,
          leaseWaits: 0,
          storeErrors: 0,
        }),
      }
      const handler = middy(async (_event: unknown, context: Ctx) => context.slowishToken).use(
        m2mToken({ fetchData: { slowishToken: slowish } }),
      )
      await expect(invoke(handler, events.direct(), lambdaContext())).resolves.toBe('slowish-token')
      await expect(invoke(handler, events.direct(), lambdaContext())).resolves.toBe('slowish-token')
    })
  })

  describe('failure and recovery', () => {
    it('should fail the invocation with the provider typed error and succeed on the next one', async () => {
      const orders = new FakeProvider('orders')
      const handler = middy(async (_event: unknown, context: Ctx) => context.ordersApiToken).use(
        m2mToken({ fetchData: { ordersApiToken: orders }, disablePrefetch: true }),
      )
      const failure = endpointError()
      orders.failWith(failure)
      await expect(invoke(handler, events.eventBridge(), lambdaContext())).rejects.toBe(failure)
      await expect(invoke(handler, events.eventBridge(), lambdaContext())).resolves.toBe('orders-token-2')
      expect(orders.requests).toBe(2)
    })

    it('should pass a RateLimitedError through unwrapped so onError can send Retry-After', async () => {
      const orders = new FakeProvider('orders').failWith(
        new RateLimitedError('The token endpoint asked to wait', {
          endpoint: 'https://idp.example.com/oauth2/token',
          status: 429,
          retryable: true,
          retryAt: 1_795_341_630_000,
        }),
      )
      const handler = middy(async () => 'ok').use(
        m2mToken({ fetchData: { ordersApiToken: orders }, disablePrefetch: true }),
      )
      await expect(invoke(handler, events.direct(), lambdaContext())).rejects.toMatchObject({
        code: 'ERR_RATE_LIMITED',
        retryAt: 1_795_341_630_000,
      })
    })

    it('should wrap a foreign error without repeating its message, which may hold a secret', async () => {
      const leaky = new Error('POST failed: client_secret=s3cr3t-value access_token=eyJhbGciOi.leak')
      const orders = new FakeProvider('orders').failWith(leaky)
      const handler = middy(async () => 'ok').use(
        m2mToken({ fetchData: { ordersApiToken: orders }, disablePrefetch: true }),
      )
      const err = await invoke(handler, events.direct(), lambdaContext()).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(TokenUnavailableError)
      expect(err).toBeInstanceOf(TokenstashError)
      expect((err as Error).name).toBe('TokenUnavailableError')
      expect((err as Error).cause).toBe(leaky)
      expect((err as Error).message).not.toMatch(/s3cr3t|eyJ|leak/)
      expect((err as Error).message).toContain('`ordersApiToken`')
    })

    it('should fail with a typed error when a provider resolves with something that is not a bearer string', async () => {
      const odd: TokenProvider = {
        key: 'odd',
        getToken: async () => undefined as unknown as string,
        getTokenSet: () => Promise.reject(new Error('unused')),
        invalidate: async () => {},
        stats: () => ({ l1Hits: 0, l2Hits: 0, fetches: 0, fetchErrors: 0, leaseWaits: 0, storeErrors: 0 }),
      }
      const handler = middy(async () => 'ok').use(m2mToken({ fetchData: { oddToken: odd } }))
      await expect(invoke(handler, events.direct(), lambdaContext())).rejects.toMatchObject({
        code: 'ERR_TOKEN_UNAVAILABLE',
        reason: 'provider-error',
        tokenNames: ['oddToken'],
      })
    })

    it('should recover after a failure during a slow first request', async () => {
      const orders = new FakeProvider('orders').hold()
      const handler = middy(async (_event: unknown, context: Ctx) => context.ordersApiToken).use(
        m2mToken({ fetchData: { ordersApiToken: orders } }),
      )
      const first = invoke(handler, events.direct(), lambdaContext()).catch((e: unknown) => e)
      await flush()
      orders.held[0]!.reject(endpointError())
      expect(await first).toBeInstanceOf(TokenEndpointError)
      orders.release()
      await expect(invoke(handler, events.direct(), lambdaContext())).resolves.toBe('orders-token-2')
    })
  })

  describe('options', () => {
    const provider = new FakeProvider('orders')
    it.each([
      ['no options', undefined, /options to be an object, got undefined/],
      [
        'an unknown option',
        { fetchData: { a: provider }, cacheExpiry: 1 },
        /^Unknown option `cacheExpiry` of m2mToken; expected one of `fetchData`, `setToContext`, `disablePrefetch`/,
      ],
      [
        'a misspelt option',
        { fetchData: { a: provider }, setToContex: true },
        /^Unknown option `setToContex` of m2mToken; did you mean `setToContext`\?$/,
      ],
      [
        'fetchData missing',
        {},
        /Expected `fetchData` to be an object of name → TokenProvider, got undefined/,
      ],
      ['fetchData as an array', { fetchData: [provider] }, /`fetchData`.*got an array/],
      ['fetchData empty', { fetchData: {} }, /at least one TokenProvider/],
      [
        'a provider without getToken',
        { fetchData: { a: { key: 'x' } } },
        /Expected `fetchData.a` to be a TokenProvider/,
      ],
      [
        'a provider as a string',
        { fetchData: { a: 'token' } },
        /Expected `fetchData.a` to be a TokenProvider.*got "token"/,
      ],
      [
        'a name that shadows the context',
        { fetchData: { functionName: provider } },
        /shadow the Lambda context's own `functionName`/,
      ],
      [
        'a name that is not an identifier',
        { fetchData: { 'orders-api': provider } },
        /JavaScript identifier, got "orders-api"/,
      ],
      ['a prototype name', { fetchData: { toString: provider } }, /JavaScript identifier, got "toString"/],
      [
        'setToContext as a string',
        { fetchData: { a: provider }, setToContext: 'yes' },
        /`setToContext` to be a boolean, got "yes"/,
      ],
      [
        'disablePrefetch as a number',
        { fetchData: { a: provider }, disablePrefetch: 1 },
        /`disablePrefetch` to be a boolean, got 1/,
      ],
      [
        'a negative margin',
        { fetchData: { a: provider }, remainingTimeMarginMs: -1 },
        /`remainingTimeMarginMs` to be a number >= 0 or false, got -1/,
      ],
      ['a NaN margin', { fetchData: { a: provider }, remainingTimeMarginMs: Number.NaN }, /got NaN/],
      ['margin true', { fetchData: { a: provider }, remainingTimeMarginMs: true }, /got true/],
    ])('should reject %s with a ConfigError naming the option', (_what, options, message) => {
      const create = () => m2mToken(options as never)
      expect(create).toThrow(ConfigError)
      expect(create).toThrow(message)
    })

    it('should ask no provider when the options are bad', () => {
      const orders = new FakeProvider('orders')
      expect(() => m2mToken({ fetchData: { ordersApiToken: orders }, setToContext: 'no' as never })).toThrow(
        ConfigError,
      )
      expect(orders.calls).toBe(0)
    })
  })
})
