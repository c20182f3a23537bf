import { attachToken } from '@tokenstash/axios'
import { cognito, createTokenProvider } from '@tokenstash/core'
import axios from 'axios'

const { COGNITO_DOMAIN = '', CLIENT_ID = '', CLIENT_SECRET = '' } = process.env
const source = cognito({ domain: COGNITO_DOMAIN, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET })
const orders = createTokenProvider({ source })
const api = axios.create({ baseURL: 'https://orders.example.com' })
attachToken(api, orders) // requests to orders.example.com now carry `Authorization: Bearer <M2M token>`
export const getOrder = async (id: string) => (await api.get(`/orders/${id}`)).data
