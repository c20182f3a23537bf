import { attachToken } from '@tokenstash/axios'
import { cognito, createTokenProvider } from '@tokenstash/core'
import axios from 'axios'

const env = process.env as Record<string, string>
const { COGNITO_DOMAIN: domain, COGNITO_CLIENT_ID: clientId, COGNITO_CLIENT_SECRET: clientSecret } = env
const orders = createTokenProvider({ source: cognito({ domain, clientId, clientSecret }) })
const api = axios.create({ baseURL: 'https://orders.example.com' })
attachToken(api, orders) // requests to orders.example.com now carry `Authorization: Bearer <M2M token>`
export const getOrder = async (id: string) => (await api.get(`/orders/${id}`)).data
