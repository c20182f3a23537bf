import { clientCredentials, createTokenProvider } from '@tokenstash/core'

const orders = createTokenProvider({
  source: clientCredentials({
    issuer: 'https://my-tenant.eu.auth0.com/', // discovery finds the token endpoint
    clientId: process.env.CLIENT_ID!,
    clientSecret: process.env.CLIENT_SECRET!,
    audience: 'https://orders.example.com',
  }),
})
export async function listOrders() {
  const res = await fetch('https://orders.example.com/v1/orders', {
    headers: { authorization: `Bearer ${await orders.getToken()}` },
  })
  return res.json()
}
