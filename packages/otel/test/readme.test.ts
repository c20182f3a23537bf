import { join } from 'node:path'
import { METRICS } from '@tokenstash/otel'
import nock from 'nock'
import { expectReadmeExample } from '../../../test/support/readme'
import { sdk } from './reader'

// The README's first example is test/readme-example.ts (compared below, so they cannot drift), run
// here against Cognito's documented token endpoint and the API (nock), with the OpenTelemetry SDK
// registered globally as an application would.

describe('README example', () => {
  beforeAll(() => nock.disableNetConnect())
  afterAll(() => {
    nock.cleanAll()
    nock.enableNetConnect()
  })

  it('should be the code the README starts with', () => {
    expectReadmeExample(join(__dirname, '..', 'README.md'), join(__dirname, 'readme-example.ts'))
  })

  it('should record one token request and then memory hits in the global MeterProvider', async () => {
    const otel = sdk({ global: true })
    try {
      process.env.COGNITO_DOMAIN = 'acme.auth.eu-west-1.amazoncognito.com'
      process.env.CLIENT_ID = 'orders-client'
      process.env.CLIENT_SECRET = 'orders-client-secret'
      nock('https://acme.auth.eu-west-1.amazoncognito.com')
        .post('/oauth2/token')
        .once()
        .reply(200, { access_token: 'cognito-access-token', token_type: 'Bearer', expires_in: 3600 })
      nock('https://orders.example.com', { reqheaders: { authorization: 'Bearer cognito-access-token' } })
        .get('/orders')
        .twice()
        .reply(200, [])
      const { callOrders, orders } = await import('./readme-example')
      expect((await callOrders()).status).toBe(200)
      expect((await callOrders()).status).toBe(200)
      const points = await otel.collect()
      const key = { 'tokenstash.key': orders.key }
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
