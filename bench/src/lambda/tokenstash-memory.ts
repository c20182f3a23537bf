// Cold-start subject without the shared store: core + middy only, to show what the DynamoDB store
// (and the AWS SDK it loads) adds to tokenstash.ts.
import middy from '@middy/core'
import { cognito, createTokenProvider } from '@tokenstash/core'
import { m2mToken } from '@tokenstash/middy'

const ordersApiToken = createTokenProvider({
  source: cognito({
    domain: process.env.COGNITO_DOMAIN ?? 'orders.auth.eu-west-1.amazoncognito.com',
    clientId: process.env.COGNITO_CLIENT_ID ?? 'client',
    clientSecret: process.env.COGNITO_CLIENT_SECRET ?? 'secret',
  }),
})

export const handler = middy()
  .use(m2mToken({ fetchData: { ordersApiToken }, disablePrefetch: true }))
  .handler(async (_event: unknown, context: { ordersApiToken?: string }) => ({
    statusCode: context.ordersApiToken ? 200 : 503,
  }))
