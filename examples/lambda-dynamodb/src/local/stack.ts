// Everything the function talks to in AWS, on loopback: the identity provider (a real OAuth2
// server behind a Cognito-shaped domain), DynamoDB (dynalite), SSM Parameter Store and the Orders
// API. `env` is what template.yaml sets, plus the endpoint overrides that point the AWS SDK here.
import { randomBytes } from 'node:crypto'
import type { DynamoServer } from '../../../../test/support/dynamodb'
import type { Issuer } from '../../../../test/support/issuer'
import { startServers } from '../../../../test/support/servers'
import { startCognitoDomain } from './cognito-domain'
import { startFakeSsm } from './fake-ssm'
import { type OrdersApi, startOrdersApi } from './orders-api'

export const TOKEN_TABLE = 'tokenstash-example-tokens'
const CLIENT_SECRET_PARAMETER = '/tokenstash-example/cognito-client-secret'
const ENCRYPTION_KEY_PARAMETER = '/tokenstash-example/token-cache-key'

export interface LocalStack {
  issuer: Issuer
  dynamo: DynamoServer
  ordersApi: OrdersApi
  /** Environment of a container, as template.yaml sets it plus the loopback endpoints. */
  env: Record<string, string>
  stop(): Promise<void>
}

/**
 * Starts the servers on free 127.0.0.1 ports. Stop them with `stop()`.
 *
 * @example
 * ```ts
 * const stack = await startLocalStack()
 * try { ... } finally { await stack.stop() }
 * ```
 */
export async function startLocalStack({
  tokenTtlSeconds = 3_600,
}: {
  tokenTtlSeconds?: number
} = {}): Promise<LocalStack> {
  const servers = await startServers({
    issuer: { accessTokenTtlSeconds: tokenTtlSeconds },
    dynamo: { tables: [TOKEN_TABLE] },
  })
  try {
    const { issuer, dynamo } = servers
    const client = issuer.clients.basic
    const ssm = await startFakeSsm({
      [CLIENT_SECRET_PARAMETER]: client.clientSecret,
      [ENCRYPTION_KEY_PARAMETER]: randomBytes(32).toString('base64'),
    })
    servers.onStop(() => ssm.stop())
    const domain = await startCognitoDomain(issuer.tokenEndpoint)
    servers.onStop(() => domain.stop())
    const ordersApi = await startOrdersApi(issuer)
    servers.onStop(() => ordersApi.stop())
    const env = {
      ...dynamo.env,
      AWS_ENDPOINT_URL_SSM: ssm.endpoint,
      AWS_LAMBDA_FUNCTION_NAME: 'tokenstash-example-orders',
      COGNITO_DOMAIN: domain.origin,
      COGNITO_CLIENT_ID: client.clientId,
      COGNITO_SCOPES: issuer.scopes[0]!,
      ORDERS_API_URL: ordersApi.url,
      TOKEN_TABLE,
      CLIENT_SECRET_PARAMETER,
      ENCRYPTION_KEY_PARAMETER,
      TOKEN_NAMESPACE: 'local',
      // Several containers loading the AWS SDK at once on a laptop are slower than Lambda's cold
      // start; the 1 s default would count the table as down and let each container fetch.
      TOKEN_STORE_TIMEOUT_MS: '5000',
    }
    return { issuer, dynamo, ordersApi, env, stop: () => servers.stop() }
  } catch (err) {
    await servers.stop().catch(() => {})
    throw err
  }
}
