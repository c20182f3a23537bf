// GET /orders/{id} behind API Gateway: reads the order from the protected Orders API with a Cognito
// M2M token. The token is cached in this container's memory and, for the whole fleet, sealed in
// DynamoDB, so the fleet asks Cognito about once per token lifetime instead of once per container.
import { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { SSMClient } from '@aws-sdk/client-ssm'
import middy from '@middy/core'
import { cognito, createTokenProvider, TokenstashError } from '@tokenstash/core'
import { m2mToken } from '@tokenstash/middy'
import { dynamoDbStore } from '@tokenstash/store-dynamodb'
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda'
import { readConfig, readParameter } from './config'

const config = readConfig(process.env)

const ssm = new SSMClient({})
// Top-level await runs in the init phase, once per container; secrets never sit in env vars. The
// client secret is not read here: the provider reads it when it first needs it, and again when
// Cognito says it was rotated (invalid_client), so rotating it in SSM needs no redeploy.
const encryptionKey = await readParameter(ssm, config.encryptionKeyParameter)

/**
 * The Orders API token, shared by every container through DynamoDB.
 *
 * @example
 * ```ts
 * await ordersApiToken.invalidate(rejectedToken) // after a 401: drop it fleet-wide, if still cached
 * ```
 */
export const ordersApiToken = createTokenProvider({
  source: cognito({
    domain: config.cognitoDomain,
    clientId: config.cognitoClientId,
    clientSecret: () => readParameter(ssm, config.clientSecretParameter),
    scopes: config.cognitoScopes,
  }),
  store: dynamoDbStore({ client: new DynamoDBClient({}), tableName: config.tokenTable }),
  encryptionKey,
  namespace: config.namespace,
  storeTimeoutMs: config.storeTimeoutMs,
})

const ORDERS_API_TIMEOUT_MS = 5_000

function getOrder(id: string, token: string): Promise<Response> {
  return fetch(`${config.ordersApiUrl}/orders/${encodeURIComponent(id)}`, {
    headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
    signal: AbortSignal.timeout(ORDERS_API_TIMEOUT_MS),
  })
}

const json = (statusCode: number, body: unknown, headers: Record<string, string> = {}) => ({
  statusCode,
  headers: { 'content-type': 'application/json', ...headers },
  body: JSON.stringify(body),
})

/**
 * The Lambda handler (`src/handler.handler` in template.yaml).
 *
 * @example
 * ```ts
 * const res = await handler(apiGatewayEvent, lambdaContext) // { statusCode: 200, body: '{"id":"42",...}' }
 * ```
 */
export const handler = middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Error, Context>()
  // Created at module load: the token request starts during the init phase (prefetch).
  .use(m2mToken({ fetchData: { ordersApiToken } }))
  .onError(async (request) => {
    // No token, no call: answer 503 so API Gateway clients retry. Messages carry no token or secret.
    if (request.error instanceof TokenstashError) {
      console.error(JSON.stringify({ level: 'error', code: request.error.code, error: request.error.name }))
      request.response = json(
        503,
        { message: 'The orders service is unavailable, try again shortly' },
        { 'retry-after': '1' },
      )
    }
  })
  .handler(async (event, context) => {
    const id = event.pathParameters?.id
    if (!id) return json(400, { message: 'Missing order id' })
    let res = await getOrder(id, context.ordersApiToken)
    if (res.status === 401) {
      // Revoked or rotated signing keys: drop the token fleet-wide (only if it is still the cached
      // one) and try once with a fresh one. A second rejection in a row throws TokenRejectedError.
      await ordersApiToken.invalidate(context.ordersApiToken)
      res = await getOrder(id, await ordersApiToken.getToken())
    }
    return { statusCode: res.status, headers: { 'content-type': 'application/json' }, body: await res.text() }
  })
