import { cognito, createTokenProvider } from '@tokenstash/core'
import { withToken } from '@tokenstash/fetch'

const { COGNITO_DOMAIN = '', CLIENT_ID = '', CLIENT_SECRET = '' } = process.env
const source = cognito({ domain: COGNITO_DOMAIN, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET })
const orders = createTokenProvider({ source })
// Requests to orders.example.com now carry `Authorization: Bearer <M2M token>`; no other origin gets it.
const apiFetch = withToken(fetch, orders, { origins: ['https://orders.example.com'] })
export const getOrder = async (id: string) =>
  (await apiFetch(`https://orders.example.com/orders/${id}`)).json()
