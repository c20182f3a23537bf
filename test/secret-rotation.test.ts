import { getSecret } from '@aws-lambda-powertools/parameters/secrets'
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager'
import { clientCredentials, cognito, createTokenProvider, TokenEndpointError } from '@tokenstash/core'
import { type FakeSecretsManager, startFakeSecretsManager } from './support/fake-secrets-manager'
import { useServers } from './support/servers'

// A client secret read from AWS Secrets Manager (through the AWS SDK, and through Powertools
// Parameters' getSecret), rotated while the fleet runs: the provider reads it at its first token
// request, never on a cached token, and once more when the token endpoint answers invalid_client.

const SECRET_ID = 'orders/client-secret'
const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'example-secret-access-key' }

describe('rotating client secrets', () => {
  const servers = useServers({ fakeIdp: { ttlSeconds: 300 } })
  let sm: FakeSecretsManager
  let client: SecretsManagerClient
  const saved = { ...process.env }

  beforeAll(async () => {
    sm = await startFakeSecretsManager()
    servers.onStop(() => sm.stop())
    client = new SecretsManagerClient({ endpoint: sm.endpoint, region: 'eu-west-1', credentials })
    servers.onStop(() => client.destroy())
    // Powertools' getSecret builds its own client: pointed at the stand-in the way the SDK documents.
    Object.assign(process.env, {
      AWS_ENDPOINT_URL_SECRETS_MANAGER: sm.endpoint,
      AWS_REGION: 'eu-west-1',
      AWS_ACCESS_KEY_ID: credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    })
  })
  afterAll(() => {
    process.env = saved
  })
  beforeEach(() => {
    sm.put(SECRET_ID, servers.fakeIdp.clientSecret)
    servers.fakeIdp.reset()
  })

  const fromSdk = async () =>
    (await client.send(new GetSecretValueCommand({ SecretId: SECRET_ID }))).SecretString!
  // forceFetch: the provider asks again only after invalid_client, when a cached value is the stale one.
  const fromPowertools = async () => (await getSecret<string>(SECRET_ID, { forceFetch: true }))!

  it.each([
    ['the AWS SDK', fromSdk],
    ['Powertools getSecret', fromPowertools],
  ])(
    'should read the secret through %s lazily, not on the warm path, and again once after a rotation',
    async (_, read) => {
      const before = sm.calls()
      const provider = createTokenProvider({
        source: clientCredentials({
          tokenEndpoint: servers.fakeIdp.tokenEndpoint,
          clientId: servers.fakeIdp.clientId,
          clientSecret: read,
        }),
        logger: false,
      })
      expect(sm.calls() - before).toBe(0) // not at construction (the Lambda init phase stays short)
      const first = await provider.getToken()
      for (let i = 0; i < 20; i++) expect(await provider.getToken()).toBe(first)
      expect([sm.calls() - before, servers.fakeIdp.requests()]).toEqual([1, 1])

      // Rotation mid-run: Secrets Manager and the identity provider now hold a new secret; the
      // provider still has the old one in memory.
      sm.put(SECRET_ID, servers.fakeIdp.rotateSecret())
      expect(await provider.getToken()).toBe(first) // the cached token is still good: nothing read
      await provider.invalidate(first)
      const second = await provider.getToken()
      expect(second).not.toBe(first)
      // invalid_client with the old secret, one read of the new one, the request again.
      expect([sm.calls() - before, servers.fakeIdp.requests()]).toEqual([2, 3])
      expect(await provider.getToken({ forceRefresh: true })).not.toBe(second)
      expect([sm.calls() - before, servers.fakeIdp.requests()]).toEqual([2, 4]) // the new secret is kept
    },
  )

  it('should fail as before when the secret read again is refused too, after one more read and one more request', async () => {
    const before = sm.calls()
    const provider = createTokenProvider({
      source: cognito({
        domain: servers.fakeIdp.tokenEndpoint.replace('/oauth2/token', ''),
        clientId: servers.fakeIdp.clientId,
        clientSecret: fromSdk,
      }),
      retry: { retries: 0 },
      logger: false,
    })
    servers.fakeIdp.rotateSecret() // rotated at the identity provider, not (yet) in Secrets Manager
    const err = await provider.getToken().catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TokenEndpointError)
    expect(err).toMatchObject({ error: 'invalid_client', status: 401, retryable: false })
    expect([sm.calls() - before, servers.fakeIdp.requests()]).toEqual([2, 2])
  })

  it('should report a failing resolver as a retryable error without its message, and read again on the next request', async () => {
    let fail = true
    const provider = createTokenProvider({
      source: clientCredentials({
        tokenEndpoint: servers.fakeIdp.tokenEndpoint,
        clientId: servers.fakeIdp.clientId,
        clientSecret: async () => {
          if (fail)
            throw Object.assign(new Error('ThrottlingException: Rate exceeded'), {
              name: 'ThrottlingException',
            })
          return fromSdk()
        },
      }),
      retry: { retries: 0 },
      logger: false,
    })
    const err = await provider.getToken().catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'ERR_TOKEN_ENDPOINT', retryable: true })
    expect((err as Error).message).toContain(
      'Reading `clientSecret` through its resolver failed (ThrottlingException)',
    )
    expect(servers.fakeIdp.requests()).toBe(0)
    fail = false
    await expect(provider.getToken()).resolves.toEqual(expect.any(String))
  })
})
