import { cognitoGetClientToken, createTokenProvider, TokenEndpointError } from '@tokenstash/core'
import nock from 'nock'

// GetClientToken as the Cognito API reference documents it: JSON 1.1, X-Amz-Target, no SigV4;
// { ClientId, Secret, Scopes?, ClientMetadata? } in, { ClientAuthenticationResult: { AccessToken,
// ExpiresIn, TokenType } } out; errors as { __type, message } with status 400.

const ORIGIN = 'https://cognito-idp.eu-west-1.amazonaws.com'
const options = { region: 'eu-west-1', clientId: '1example23456789', clientSecret: 'client-secret-value' }
const ok = (token = 'eyJ.access.token') => ({
  ClientAuthenticationResult: { AccessToken: token, ExpiresIn: 3600, TokenType: 'Bearer' },
})
const refusal = (type: string, message: string) => ({ __type: type, message })

beforeAll(() => nock.disableNetConnect())
afterEach(() => nock.cleanAll())
afterAll(() => nock.enableNetConnect())

describe('cognitoGetClientToken', () => {
  it('should send the documented request, unsigned, and read the documented answer', async () => {
    let seen: unknown
    const scope = nock(ORIGIN, {
      reqheaders: {
        'content-type': 'application/x-amz-json-1.1',
        'x-amz-target': 'AWSCognitoIdentityProviderService.GetClientToken',
      },
      badheaders: ['authorization'],
    })
      .post('/', (body) => {
        seen = body
        return true
      })
      .reply(200, ok(), { 'content-type': 'application/x-amz-json-1.1' })
    const now = 1_700_000_000_000
    const set = await cognitoGetClientToken({
      ...options,
      scopes: 'orders/write orders/read',
      clientMetadata: { tenant: 'acme' },
      now: () => now,
    }).fetchToken()
    expect(seen).toEqual({
      ClientId: options.clientId,
      Secret: options.clientSecret,
      Scopes: ['orders/read', 'orders/write'],
      ClientMetadata: { tenant: 'acme' },
    })
    expect(set).toEqual({
      accessToken: 'eyJ.access.token',
      tokenType: 'Bearer',
      issuedAt: now,
      expiresAt: now + 3_600_000,
    })
    scope.done()
  })

  it('should map NotAuthorizedException to a non-retried invalid_client without the secret', async () => {
    nock(ORIGIN)
      .post('/')
      .reply(
        400,
        refusal(
          'NotAuthorizedException',
          `Client ${options.clientId} secret ${options.clientSecret} is invalid`,
        ),
      )
    const err = await cognitoGetClientToken(options)
      .fetchToken()
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TokenEndpointError)
    expect(err).toMatchObject({ error: 'invalid_client', status: 400, retryable: false })
    expect((err as Error).message).not.toContain(options.clientSecret)
    expect((err as Error).message).toContain('NotAuthorizedException')
  })

  it.each(['TooManyRequestsException', 'LimitExceededException'])(
    'should retry %s as a rate limit, with the cooldown of a 429',
    async (type) => {
      nock(ORIGIN)
        .post('/')
        .reply(400, refusal(`com.amazonaws.cognito#${type}`, 'Rate exceeded'))
      nock(ORIGIN).post('/').reply(200, ok())
      const seen: string[] = []
      const p = createTokenProvider({
        source: cognitoGetClientToken(options),
        retry: { minTimeoutMs: 1, maxTimeoutMs: 5 },
        onEvent: (e) => seen.push(e.type),
        logger: false,
      })
      expect(await p.getToken()).toBe('eyJ.access.token')
      expect(seen).toEqual(expect.arrayContaining(['cooldown', 'retry', 'fetch']))
    },
  )

  it('should read a resolved secret lazily and again once after NotAuthorizedException', async () => {
    const secrets = ['old-secret', 'new-secret']
    let reads = 0
    const sent: string[] = []
    nock(ORIGIN)
      .post('/')
      .times(2)
      .reply((_uri, body) => {
        const secret = (
          JSON.parse(String(typeof body === 'string' ? body : JSON.stringify(body))) as { Secret: string }
        ).Secret
        sent.push(secret)
        return secret === 'new-secret' ? [200, ok()] : [400, refusal('NotAuthorizedException', 'bad secret')]
      })
    const source = cognitoGetClientToken({ ...options, clientSecret: async () => secrets[reads++]! })
    expect(reads).toBe(0)
    await source.fetchToken()
    expect([reads, sent]).toEqual([2, ['old-secret', 'new-secret']])
  })

  it('should refuse bad options, unknown ones with a suggestion', () => {
    expect(() => cognitoGetClientToken({ ...options, region: 'Ireland' })).toThrow(
      'Expected `region` to be an AWS region',
    )
    expect(() => cognitoGetClientToken({ ...options, scope: 'x' } as never)).toThrow('did you mean `scopes`?')
    expect(() => cognitoGetClientToken({ ...options, endpoint: 'http://example.com/' })).toThrow('https')
    expect(cognitoGetClientToken({ ...options, endpoint: 'http://127.0.0.1:9229/' }).id).toContain(
      '127.0.0.1:9229',
    )
  })
})
