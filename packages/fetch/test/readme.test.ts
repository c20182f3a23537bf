import { join } from 'node:path'
import nock from 'nock'
import { expectReadmeExample } from '../../../test/support/readme'

// The README's first example is test/readme-example.ts (compared below, so they cannot drift), run
// here against Cognito's documented token endpoint and the API (nock).

describe('README example', () => {
  beforeAll(() => nock.disableNetConnect())
  afterAll(() => {
    nock.cleanAll()
    nock.enableNetConnect()
  })

  it('should be the code the README starts with', () => {
    expectReadmeExample(join(__dirname, '..', 'README.md'), join(__dirname, 'readme-example.ts'))
  })

  it('should get one token from Cognito and send it with every call to the API', async () => {
    process.env.COGNITO_DOMAIN = 'acme.auth.eu-west-1.amazoncognito.com'
    process.env.CLIENT_ID = 'orders-client'
    process.env.CLIENT_SECRET = 'orders-client-secret'
    const basic = `Basic ${Buffer.from('orders-client:orders-client-secret').toString('base64')}`
    const cognito = nock('https://acme.auth.eu-west-1.amazoncognito.com', {
      reqheaders: { authorization: basic },
    })
      .post('/oauth2/token', { grant_type: 'client_credentials' })
      .once()
      .reply(200, { access_token: 'cognito-access-token', token_type: 'Bearer', expires_in: 3600 })
    const api = nock('https://orders.example.com', {
      reqheaders: { authorization: 'Bearer cognito-access-token' },
    })
      .get('/orders/42')
      .twice()
      .reply(200, { id: 42 })

    const { getOrder } = await import('./readme-example')
    expect(await getOrder('42')).toEqual({ id: 42 })
    expect(await getOrder('42')).toEqual({ id: 42 })
    expect(cognito.isDone()).toBe(true)
    expect(api.isDone()).toBe(true)
  })
})
