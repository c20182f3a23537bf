import middy from '@middy/core'
import { auth0, createTokenProvider } from '@tokenstash/core'
import { m2mToken } from '@tokenstash/middy'

const { AUTH0_DOMAIN, AUTH0_CLIENT_ID, AUTH0_CLIENT_SECRET } = process.env
const ordersApiToken = createTokenProvider({
  source: auth0({
    domain: AUTH0_DOMAIN!,
    clientId: AUTH0_CLIENT_ID!,
    clientSecret: AUTH0_CLIENT_SECRET!,
    audience: 'https://orders.acme.com',
  }),
})

export const handler = middy()
  .use(m2mToken({ fetchData: { ordersApiToken } })) // fetching starts now, in the Lambda init phase
  .handler(async (_event, context) => {
    const res = await fetch('https://api.acme.com/v1/orders', {
      headers: { authorization: `Bearer ${context.ordersApiToken}` },
    })
    return { statusCode: res.status, body: await res.text() }
  })
