// The providers this stack's functions share: the API function (handler.ts) serves from them, the
// scheduled warmer (warmer.ts) keeps their stored tokens fresh. One module, so both are built with
// the same source, store, key, namespace and policy.
import { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { SSMClient } from '@aws-sdk/client-ssm'
import { cognito, createTokenProvider } from '@tokenstash/core'
import { dynamoDbStore } from '@tokenstash/store-dynamodb'
import { readConfig, readParameter } from './config'

export const config = readConfig(process.env)

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
