import { attachToken } from '@tokenstash/axios'
import { cognito, createTokenProvider } from '@tokenstash/core'
import axios from 'axios'

const { COGNITO_DOMAIN = '', COGNITO_CLIENT_ID = '', COGNITO_CLIENT_SECRET = '' } = process.env
const orders = createTokenProvider({
  source: cognito({
    domain: COGNITO_DOMAIN,
    clientId: COGNITO_CLIENT_ID,
    clientSecret: COGNITO_CLIENT_SECRET,
    scopes: ['orders/read'],
  }),
})
const api = axios.create({ baseURL: 'https://orders.example.com' })
attachToken(api, orders) // requests to orders.example.com now carry Authorization: Bearer <cached M2M token>

export const getOrder = async (id: string) => (await api.get(`/orders/${id}`)).data
