import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import nock from 'nock'
import { expectReadmeExample } from '../../../test/support/readme'

// The README's first example is test/readme-example.ts (compared below, so they cannot drift), run
// here as a Lambda handler against Cognito's documented token endpoint (nock).

describe('README example', () => {
  beforeAll(() => nock.disableNetConnect())
  afterAll(() => {
    nock.cleanAll()
    nock.enableNetConnect()
  })

  it('should be the code the README starts with', () => {
    expectReadmeExample(join(__dirname, '..', 'README.md'), join(__dirname, 'readme-example.ts'))
  })

  it('should answer a Cognito client twice with one request to Cognito', async () => {
    process.env.TOKEN_URL = 'https://acme.auth.eu-west-1.amazoncognito.com/oauth2/token'
    process.env.TOKENSTASH_HMAC_KEY = randomBytes(32).toString('base64')
    const basic = `Basic ${Buffer.from('orders-client:orders-secret').toString('base64')}`
    const cognito = nock('https://acme.auth.eu-west-1.amazoncognito.com', {
      reqheaders: { authorization: basic },
    })
      .post('/oauth2/token', 'grant_type=client_credentials&scope=orders%2Fread')
      .once()
      .reply(200, { access_token: 'cognito-token', token_type: 'Bearer', expires_in: 3600 })
    const { handler, server } = await import('./readme-example')
    const event = {
      version: '2.0',
      rawPath: '/oauth2/token',
      rawQueryString: '',
      headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
      requestContext: { http: { method: 'POST', path: '/oauth2/token' } },
      body: 'grant_type=client_credentials&scope=orders%2Fread',
    }
    const answers = [await handler(event), await handler(event)]
    expect(answers.map((a) => a.headers['cache-status'])).toEqual(['tokenstash; fwd=miss', 'tokenstash; hit'])
    expect(JSON.parse(answers[1]!.body).access_token).toBe('cognito-token')
    expect(cognito.isDone()).toBe(true)
    expect(server.listenerCount('request')).toBe(1)
  })
})
