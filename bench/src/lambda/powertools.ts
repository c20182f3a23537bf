// Cold-start peer: the same handler with the token cached as @aws-lambda-powertools/parameters
// caches parameters: a BaseProvider whose _get requests the token, read with a maxAge (one cache
// per container, nothing shared).
import { BaseProvider } from '@aws-lambda-powertools/parameters/base'
import middy from '@middy/core'
import { fetchToken } from './fetch-token'

class TokenProvider extends BaseProvider {
  constructor() {
    super({})
  }
  protected async _get(): Promise<string> {
    return fetchToken()
  }
  protected async _getMultiple(): Promise<Record<string, unknown>> {
    return {}
  }
}
const tokens = new TokenProvider()

export const handler = middy().handler(async () => {
  const token = await tokens.get('orders-api-token', { maxAge: 45 * 60 })
  return { statusCode: token ? 200 : 503 }
})
