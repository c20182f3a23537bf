// Cold-start peer: the same handler with the token cached by @middy/util's processCache, the way
// Middy's own fetch middlewares cache (one cache per container, nothing shared), and the token
// requested with fetch, as a hand-rolled client-credentials call.
import middy, { type MiddlewareObj } from '@middy/core'
import { processCache } from '@middy/util'
import { fetchToken } from './fetch-token'

const token: MiddlewareObj = {
  before: async (request) => {
    const { value } = processCache({ cacheKey: 'orders-api-token', cacheExpiry: 45 * 60_000 }, fetchToken)
    ;(request.context as { ordersApiToken?: string }).ordersApiToken = await value
  },
}

export const handler = middy()
  .use(token)
  .handler(async (_event: unknown, context) => ({
    statusCode: (context as unknown as { ordersApiToken?: string }).ordersApiToken ? 200 : 503,
  }))
