import { cognito, createTokenProvider } from '@tokenstash/core'
import { otelMetrics } from '@tokenstash/otel'

// Register your OpenTelemetry SDK's MeterProvider (NodeSDK, the ADOT Lambda layer) before the first
// token request; otelMetrics() records to the global one.
const { COGNITO_DOMAIN = '', CLIENT_ID = '', CLIENT_SECRET = '' } = process.env
const source = cognito({ domain: COGNITO_DOMAIN, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET })
export const orders = createTokenProvider({ source, onEvent: otelMetrics() })
export const callOrders = async () =>
  fetch('https://orders.example.com/orders', {
    headers: { authorization: `Bearer ${await orders.getToken()}` },
  })
