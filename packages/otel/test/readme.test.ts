import { join } from 'node:path'
import { METRICS } from '@tokenstash/otel'
import { cognitoAndOrdersApi, describeReadmeExample } from '../../../test/support/readme'
import { sdk } from './reader'

// The README's first example is test/readme-example.ts (compared below, so they cannot drift), run
// here against Cognito's documented token endpoint and the API (nock), with the OpenTelemetry SDK
// registered globally as an application would.

describeReadmeExample('README example', join(__dirname, '..', 'README.md'), __dirname, () => {
  it('should record one token request and then memory hits in the global MeterProvider', async () => {
    const otel = sdk({ global: true })
    try {
      cognitoAndOrdersApi('/orders', 2, [])
      const { callOrders, orders } = await import('./readme-example')
      expect((await callOrders()).status).toBe(200)
      expect((await callOrders()).status).toBe(200)
      const points = await otel.collect()
      const key = { 'tokenstash.namespace': orders.key.split(':')[0] }
      expect(points[METRICS.tokenRequests]).toEqual([
        { attributes: { ...key, 'tokenstash.mode': 'fetch', 'tokenstash.outcome': 'success' }, value: 1 },
      ])
      expect(points[METRICS.hits]).toEqual([
        { attributes: { ...key, 'tokenstash.cache.tier': 'memory' }, value: 1 },
      ])
      expect(JSON.stringify(points)).not.toContain('cognito-access-token')
    } finally {
      await otel.shutdown()
    }
  })
})
