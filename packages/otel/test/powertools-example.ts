import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics'
import { cognito, createTokenProvider, type TokenEvent } from '@tokenstash/core'

// The same through Powertools for AWS Lambda (EMF): a few lines of onEvent, no OpenTelemetry.
const metrics = new Metrics({ namespace: 'orders', serviceName: 'orders-api' })
const { COGNITO_DOMAIN = '', CLIENT_ID = '', CLIENT_SECRET = '' } = process.env
const source = cognito({ domain: COGNITO_DOMAIN, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET })

export function onEvent(event: TokenEvent): void {
  if (event.type === 'fetch' || event.type === 'refresh') {
    metrics.addMetric('TokenRequests', MetricUnit.Count, 1)
    if (event.durationMs !== undefined)
      metrics.addMetric('TokenFetchTime', MetricUnit.Milliseconds, event.durationMs)
  } else if (event.type === 'hit-memory' || event.type === 'hit-store') {
    metrics.addMetric(event.type === 'hit-memory' ? 'TokenHitsMemory' : 'TokenHitsStore', MetricUnit.Count, 1)
  } else if (event.type === 'store-error' || event.type === 'error' || event.type === 'cooldown') {
    metrics.addMetric(`Token_${event.type}`, MetricUnit.Count, 1)
  }
}

export const orders = createTokenProvider({ source, onEvent })
// In the handler, after the work: metrics.publishStoredMetrics() (or Powertools' Middy middleware logMetrics(metrics)).
export { metrics }
