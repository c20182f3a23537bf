import { generateKeyPairSync } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { clientCredentials, DiscoveryError, type SourceEvent } from '@tokenstash/core'
import nock from 'nock'

// Discovery against metadata shaped like each identity provider's (test/fixtures/discovery), served
// by nock at the URL the issuer implies: the issuer configured exactly as the metadata names it,
// and with its trailing slash added or removed, as users copy it from consoles and docs.

const SECRET = 'interop-client-secret-value'
const OK = { access_token: 'interop-access-token', token_type: 'Bearer', expires_in: 3600 }

type Metadata = { issuer: string; token_endpoint: string; token_endpoint_auth_methods_supported?: string[] }

function fixture(name: string): Metadata {
  return JSON.parse(readFileSync(join(__dirname, '../../../test/fixtures/discovery', `${name}.json`), 'utf8'))
}

/** The issuer as the metadata names it, and toggled: with a trailing slash added or removed. */
function issuerForms(issuer: string): string[] {
  return [issuer, issuer.endsWith('/') ? issuer.replace(/\/+$/, '') : `${issuer}/`]
}

interface Seen {
  authorization?: string
  body: URLSearchParams
}

/** Serves `meta` where discovery of its issuer looks, and its token endpoint; records the token request. */
function serve(meta: Metadata): Seen[] {
  const issuer = new URL(meta.issuer)
  const wellKnown = `${issuer.pathname.replace(/\/+$/, '')}/.well-known/openid-configuration`
  nock(issuer.origin).get(wellKnown).reply(200, meta)
  const seen: Seen[] = []
  const endpoint = new URL(meta.token_endpoint)
  nock(endpoint.origin)
    .post(endpoint.pathname)
    .reply(function (_uri, body) {
      seen.push({ authorization: this.req.headers.authorization, body: new URLSearchParams(body as string) })
      return [200, OK]
    })
  return seen
}

function authMethodOf(request: Seen | undefined): string {
  if (request?.authorization?.startsWith('Basic ')) return 'client_secret_basic'
  if (request?.body.get('client_secret') === SECRET) return 'client_secret_post'
  if (request?.body.get('client_assertion')) return 'private_key_jwt'
  return 'none'
}

beforeAll(() => nock.disableNetConnect())
afterEach(() => nock.cleanAll())
afterAll(() => nock.enableNetConnect())

const VENDORS = [
  // [fixture, method for a client with a secret, method for a client with only a private key]
  ['auth0', 'client_secret_basic', 'private_key_jwt'],
  ['cognito', 'client_secret_basic', undefined],
  ['okta', 'client_secret_basic', 'private_key_jwt'],
  ['keycloak', 'client_secret_basic', 'private_key_jwt'],
  ['entra-id', 'client_secret_basic', 'private_key_jwt'],
  ['google', 'client_secret_basic', undefined],
] as const

describe('clientCredentials discovery against identity providers’ metadata', () => {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })

  describe.each(VENDORS)('%s', (name, secretMethod, keyMethod) => {
    const meta = fixture(name)

    it.each(issuerForms(meta.issuer))(
      `should find the token endpoint from issuer %s and authenticate with ${secretMethod}`,
      async (issuer) => {
        const seen = serve(meta)
        const set = await clientCredentials({ issuer, clientId: 'orders', clientSecret: SECRET }).fetchToken()
        expect(set.accessToken).toBe(OK.access_token)
        expect(seen).toHaveLength(1)
        expect(authMethodOf(seen[0])).toBe(secretMethod)
      },
    )

    it(`should use ${keyMethod ?? 'no method (refused)'} for a client with only a private key`, async () => {
      const seen = serve(meta)
      const source = clientCredentials({ issuer: meta.issuer, clientId: 'orders', privateKey })
      if (keyMethod === undefined) {
        await expect(source.fetchToken()).rejects.toThrow(DiscoveryError)
        expect(seen).toHaveLength(0)
      } else {
        await source.fetchToken()
        expect(authMethodOf(seen[0])).toBe(keyMethod)
        expect(seen[0]?.body.get('client_id')).toBeNull()
      }
    })

    it('should use an explicit authMethod as given', async () => {
      const seen = serve(meta)
      await clientCredentials({
        issuer: meta.issuer,
        clientId: 'orders',
        clientSecret: SECRET,
        authMethod: 'client_secret_post',
      }).fetchToken()
      expect(authMethodOf(seen[0])).toBe('client_secret_post')
    })
  })

  it('should fall back to client_secret_basic, with an event, when the metadata lists only `none`', async () => {
    const meta = { ...fixture('okta'), token_endpoint_auth_methods_supported: ['none'] }
    const seen = serve(meta)
    const source = clientCredentials({ issuer: meta.issuer, clientId: 'orders', clientSecret: SECRET })
    const events: SourceEvent[] = []
    source.subscribe?.((e) => events.push(e))
    await source.fetchToken()
    expect(authMethodOf(seen[0])).toBe('client_secret_basic')
    expect(events.map((e) => [e.type, e.authMethod])).toEqual([
      ['auth-method-fallback', 'client_secret_basic'],
    ])
    expect(events[0]?.message).toContain(meta.issuer)
  })

  it("should refuse Entra ID's multi-tenant `common` metadata, whose issuer is a template, and say what to set", async () => {
    const meta = fixture('entra-id-common')
    nock('https://login.microsoftonline.com')
      .get('/common/v2.0/.well-known/openid-configuration')
      .reply(200, meta)
    const error = await clientCredentials({
      issuer: 'https://login.microsoftonline.com/common/v2.0',
      clientId: 'orders',
      clientSecret: SECRET,
    })
      .fetchToken()
      .catch((e: unknown) => e)
    expect(error).toBeInstanceOf(DiscoveryError)
    expect((error as Error).message).toContain('"https://login.microsoftonline.com/{tenantid}/v2.0"')
    expect((error as Error).message).toContain('use the tenant-specific issuer, with your tenant id')
  })
})
