import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { createTokenProxy, type ProxyListener } from '@tokenstash/proxy'
import { claimsOf, randomKey } from './support/proxy-client'
import { useServers } from './support/servers'

// Third-party OAuth2 clients, unchanged but for their token URL, through the proxy in front of
// oidc-provider: openid-client 6 (client_secret_basic and client_secret_post), simple-oauth2, and
// Python's Authlib and requests-oauthlib (Debian packages, /usr/bin/python3; scripts/setup.mjs
// installs them). Each asks twice for the `read` scope: it gets it, and the second time is a hit
// (the upstream sees one request). Each runs as its own process, as its users run it.

const run = promisify(execFile)

interface ClientRun {
  name: string
  command: string
  args: (url: string, id: string, secret: string) => string[]
  client: 'basic' | 'post'
}

const nodeScript = (body: string) => (url: string, id: string, secret: string) => [
  '--input-type=module',
  '-e',
  `const [url, id, secret] = process.argv.slice(1); const tokens = []; ${body}; console.log(JSON.stringify(tokens))`,
  url,
  id,
  secret,
]

const openidClient = (method: 'ClientSecretBasic' | 'ClientSecretPost') =>
  nodeScript(`
    const client = await import('openid-client')
    const config = new client.Configuration({ issuer: new URL(url).origin, token_endpoint: url }, id, undefined, client.${method}(secret))
    client.allowInsecureRequests(config)
    for (let i = 0; i < 2; i++) tokens.push((await client.clientCredentialsGrant(config, { scope: 'read' })).access_token)
  `)

const pythonScript = (body: string) => (url: string, id: string, secret: string) => [
  '-c',
  `import json, sys\nurl, cid, secret = sys.argv[1:4]\ntokens = []\n${body}\nprint(json.dumps(tokens))`,
  url,
  id,
  secret,
]

const CLIENTS: ClientRun[] = [
  {
    name: 'openid-client 6 (client_secret_basic)',
    command: process.execPath,
    args: openidClient('ClientSecretBasic'),
    client: 'basic',
  },
  {
    name: 'openid-client 6 (client_secret_post)',
    command: process.execPath,
    args: openidClient('ClientSecretPost'),
    client: 'post',
  },
  {
    name: 'simple-oauth2',
    command: process.execPath,
    client: 'basic',
    args: nodeScript(`
      const { ClientCredentials } = (await import('simple-oauth2')).default
      const { origin, pathname } = new URL(url)
      const cc = new ClientCredentials({ client: { id, secret }, auth: { tokenHost: origin, tokenPath: pathname } })
      for (let i = 0; i < 2; i++) tokens.push((await cc.getToken({ scope: 'read' })).token.access_token)
    `),
  },
  {
    name: 'Authlib (python3-authlib)',
    command: '/usr/bin/python3',
    client: 'basic',
    args: pythonScript(
      [
        'from authlib.integrations.requests_client import OAuth2Session',
        "s = OAuth2Session(cid, secret, scope='read', token_endpoint_auth_method='client_secret_basic')",
        'for _ in range(2):',
        "    tokens.append(s.fetch_token(url, grant_type='client_credentials')['access_token'])",
      ].join('\n'),
    ),
  },
  {
    name: 'requests-oauthlib (python3-requests-oauthlib)',
    command: '/usr/bin/python3',
    client: 'basic',
    args: pythonScript(
      [
        'from oauthlib.oauth2 import BackendApplicationClient',
        'from requests.auth import HTTPBasicAuth',
        'from requests_oauthlib import OAuth2Session',
        's = OAuth2Session(client=BackendApplicationClient(client_id=cid))',
        'for _ in range(2):',
        "    tokens.append(s.fetch_token(token_url=url, auth=HTTPBasicAuth(cid, secret), scope=['read'])['access_token'])",
      ].join('\n'),
    ),
  },
]

describe('third-party OAuth2 clients through the proxy', () => {
  const servers = useServers({ issuer: { accessTokenTtlSeconds: 600 }, resetEach: true })
  let listener: ProxyListener

  // A proxy per client: two clients sending the same bytes would share a key, and the count.
  beforeEach(async () => {
    listener = await createTokenProxy({
      upstream: servers.issuer.tokenEndpoint,
      hmacKey: randomKey(),
    }).listen(0)
  })
  afterEach(() => listener.close())

  it.each(CLIENTS)('should serve $name the scope it asked for, the second time from the cache', async (c) => {
    const { clientId, clientSecret } = servers.issuer.clients[c.client]
    const { stdout } = await run(c.command, c.args(`${listener.url}/oauth2/token`, clientId, clientSecret), {
      cwd: __dirname,
      env: { PATH: process.env.PATH ?? '', OAUTHLIB_INSECURE_TRANSPORT: '1', NODE_NO_WARNINGS: '1' },
      timeout: 30_000,
    })
    const tokens = JSON.parse(stdout.trim().split('\n').at(-1)!) as string[]
    expect(tokens).toHaveLength(2)
    expect(claimsOf(tokens[0]).scope).toBe('read')
    expect(claimsOf(tokens[0]).client_id).toBe(clientId)
    expect(tokens[1]).toBe(tokens[0])
    expect(await servers.issuer.tokenRequests()).toBe(1)
  })
})
