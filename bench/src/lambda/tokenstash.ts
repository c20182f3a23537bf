// Cold-start subject: a Lambda handler using @tokenstash/core + @tokenstash/middy + the DynamoDB
// store, as examples/lambda-dynamodb builds it. Bundled by bench/src/cold-start.bench.ts with
// esbuild (minified, AWS SDK external, as the Node.js Lambda runtime provides it).
import { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import middy from '@middy/core'
import { cognito, createTokenProvider } from '@tokenstash/core'
import { m2mToken } from '@tokenstash/middy'
import { dynamoDbStore } from '@tokenstash/store-dynamodb'

const ordersApiToken = createTokenProvider({
  source: cognito({
    domain: process.env.COGNITO_DOMAIN ?? 'orders.auth.eu-west-1.amazoncognito.com',
    clientId: process.env.COGNITO_CLIENT_ID ?? 'client',
    clientSecret: process.env.COGNITO_CLIENT_SECRET ?? 'secret',
  }),
  store: dynamoDbStore({ client: new DynamoDBClient({}), tableName: process.env.TOKEN_TABLE ?? 'tokens' }),
  encryptionKey: process.env.TOKENSTASH_ENCRYPTION_KEY ?? Buffer.alloc(32, 1).toString('base64'),
})

export const handler = middy()
  .use(m2mToken({ fetchData: { ordersApiToken }, disablePrefetch: true }))
  .handler(async (_event: unknown, context: { ordersApiToken?: string }) => ({
    statusCode: context.ordersApiToken ? 200 : 503,
  }))
