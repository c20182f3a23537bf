import { join } from 'node:path'
import nock from 'nock'
import { describeReadmeExample } from '../../../test/support/readme'
import { events, invoke, lambdaContext } from './lambda'

// The README's first example is test/readme-example.ts (compared below, so they cannot drift),
// run here as a Lambda handler against Auth0's and the API's documented endpoints (nock).

describeReadmeExample('README example', join(__dirname, '..', 'README.md'), __dirname, () => {
  it('should fetch one token from Auth0 at module load and call the API with it on every invocation', async () => {
    process.env.AUTH0_DOMAIN = 'acme.eu.auth0.com'
    process.env.AUTH0_CLIENT_ID = 'orders-client'
    process.env.AUTH0_CLIENT_SECRET = 'orders-client-secret'
    const auth0 = nock('https://acme.eu.auth0.com')
      .post('/oauth/token', {
        grant_type: 'client_credentials',
        client_id: 'orders-client',
        client_secret: 'orders-client-secret',
        audience: 'https://orders.acme.com',
      })
      .once()
      .reply(200, { access_token: 'opaque-orders-token', token_type: 'Bearer', expires_in: 86_400 })
    const api = nock('https://api.acme.com', { reqheaders: { authorization: 'Bearer opaque-orders-token' } })
      .get('/v1/orders')
      .twice()
      .reply(200, '[{"id":42}]')

    const { handler } = await import('./readme-example')
    const first = await invoke(handler, events.apiGatewayV2(), lambdaContext())
    const second = await invoke(handler, events.apiGatewayV2(), lambdaContext())

    expect(first).toEqual({ statusCode: 200, body: '[{"id":42}]' })
    expect(second).toEqual(first)
    expect(auth0.isDone()).toBe(true)
    expect(api.isDone()).toBe(true)
  })
})
