import { join } from 'node:path'
import nock from 'nock'
import { describeReadmeExample, expectOrdersListedTwice } from '../support/readme'

// The root README's usage example is readme-example.ts, run against Auth0's documented discovery
// document and token endpoint, and the API (nock, no network).
describeReadmeExample('root README example', join(__dirname, '..', '..', 'README.md'), __dirname, () => {
  it('should discover the token endpoint, get one token and send it with every call', async () => {
    process.env.CLIENT_ID = 'orders-client'
    process.env.CLIENT_SECRET = 'orders-secret'
    const auth0 = nock('https://my-tenant.eu.auth0.com')
      .get('/.well-known/openid-configuration')
      .reply(200, {
        issuer: 'https://my-tenant.eu.auth0.com/',
        token_endpoint: 'https://my-tenant.eu.auth0.com/oauth/token',
        jwks_uri: 'https://my-tenant.eu.auth0.com/.well-known/jwks.json',
        token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
      })
      .post(
        '/oauth/token',
        (body) => body.grant_type === 'client_credentials' && body.audience === 'https://orders.example.com',
      )
      .once()
      .reply(200, { access_token: 'auth0-access-token', token_type: 'Bearer', expires_in: 86_400 })
    await expectOrdersListedTwice(() => import('./readme-example'), auth0, 'auth0-access-token', [{ id: 7 }])
  })
})
