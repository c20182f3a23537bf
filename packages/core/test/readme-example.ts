import { cognito, createTokenProvider } from '@tokenstash/core'

const orders = createTokenProvider({
  source: cognito({
    domain: 'my-pool.auth.eu-west-1.amazoncognito.com',
    clientId: process.env.CLIENT_ID!,
    clientSecret: process.env.CLIENT_SECRET!,
    scopes: ['orders/read'],
  }),
})
export async function listOrders() {
  const res = await fetch('https://orders.example.com/v1/orders', {
    headers: { authorization: `Bearer ${await orders.getToken()}` },
  })
  return res.json()
}
