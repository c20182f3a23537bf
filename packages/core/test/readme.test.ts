import { join } from 'node:path'
import nock from 'nock'
import { describeReadmeExample } from '../../../test/support/readme'

// The README's first example is test/readme-example.ts, run against Cognito's documented token
// endpoint and the API (nock).
describeReadmeExample('README example', join(__dirname, '..', 'README.md'), __dirname, () => {
  it('should get one token from Cognito and send it with every call', async () => {
    process.env.CLIENT_ID = 'orders-client'
    process.env.CLIENT_SECRET = 'orders-secret'
    const cognito = nock('https://my-pool.auth.eu-west-1.amazoncognito.com', {
      reqheaders: { authorization: `Basic ${Buffer.from('orders-client:orders-secret').toString('base64')}` },
    })
      .post('/oauth2/token', 'grant_type=client_credentials&scope=orders%2Fread')
      .once()
      .reply(200, { access_token: 'cognito-access-token', token_type: 'Bearer', expires_in: 3600 })
    const api = nock('https://orders.example.com', {
      reqheaders: { authorization: 'Bearer cognito-access-token' },
    })
      .get('/v1/orders')
      .twice()
      .reply(200, [{ id: 1 }])
    const { listOrders } = await import('./readme-example')
    expect(await listOrders()).toEqual([{ id: 1 }])
    expect(await listOrders()).toEqual([{ id: 1 }])
    expect(cognito.isDone()).toBe(true)
    expect(api.isDone()).toBe(true)
  })
})
