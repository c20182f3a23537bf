// Everything the function talks to in AWS, on loopback: the identity provider (a real OAuth2
// server behind a Cognito-shaped domain), DynamoDB (dynalite), SSM Parameter Store and the Orders
// API. `env` is what template.yaml sets, plus the endpoint overrides that point the AWS SDK here.
import { randomBytes } from 'node:crypto'
import { type DynamoServer, startDynamo } from '../../../../test/support/dynamodb'
import { type Issuer, startIssuer } from '../../../../test/support/issuer'
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
  const stops: Array<() => Promise<void>> = []
  const stop = async () => {
    for (const fn of stops.reverse()) await fn().catch(() => {})
  }
  try {
    const [issuer, dynamo] = await Promise.all([
      startIssuer({ accessTokenTtlSeconds: tokenTtlSeconds }),
      startDynamo(),
    ])
    stops.push(
      () => issuer.stop(),
      () => dynamo.stop(),
    )
    await dynamo.createTable(TOKEN_TABLE)
    const client = issuer.clients.basic
    const ssm = await startFakeSsm({
      [CLIENT_SECRET_PARAMETER]: client.clientSecret,
      [ENCRYPTION_KEY_PARAMETER]: randomBytes(32).toString('base64'),
    })
    stops.push(() => ssm.stop())
    const domain = await startCognitoDomain(issuer.tokenEndpoint)
    stops.push(() => domain.stop())
    const ordersApi = await startOrdersApi(issuer)
    stops.push(() => ordersApi.stop())
    const env = {
      AWS_REGION: dynamo.region,
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
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
    return { issuer, dynamo, ordersApi, env, stop }
  } catch (err) {
    await stop()
    throw err
  }
}
