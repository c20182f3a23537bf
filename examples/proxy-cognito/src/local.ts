// What `npm run example:proxy-cognito` runs (src/main.ts): tokenstash-proxy in front of a
// Cognito-shaped token endpoint, all on 127.0.0.1 — a real OAuth2 server (oidc-provider) behind
// Cognito's `/oauth2/token` path, the proxy as a node:http server, and the Lambda flavour
// (src/handler.ts, unchanged) invoked with Function URL events, its keys from a stand-in for SSM
// and its tokens in dynalite. Exits 1 unless every answer is what the README says.
// `--serve` keeps the node:http proxy running for the README's curl commands.
import { randomBytes } from 'node:crypto'
import { createTokenProxy } from '@tokenstash/proxy'
import { startServers } from '../../../test/support/servers'
import { startCognitoDomain } from '../../lambda-dynamodb/src/local/cognito-domain'
import { startFakeSsm } from '../../lambda-dynamodb/src/local/fake-ssm'

const TABLE = 'tokenstash-proxy-tokens'
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export interface ExampleResult {
  ok: boolean
  /** Token requests the identity provider saw. */
  tokenRequests: number
  problems: string[]
}

interface Answer {
  status: number
  cacheStatus: string | null
  body: Record<string, unknown>
}

export async function runExample({
  serve = false,
  pauseMs = 2_000,
  log = (line: string): void => {
    process.stdout.write(`${line}\n`)
  },
} = {}): Promise<ExampleResult> {
  const out = (line = '') => log(line)
  const problems: string[] = []
  const expect = (what: string, ok: boolean) => {
    if (!ok) problems.push(what)
  }
  const stops: Array<() => Promise<unknown>> = []
  try {
    const servers = await startServers({
      issuer: { accessTokenTtlSeconds: 3_600, scopes: ['orders/read', 'orders/write'] },
      dynamo: { tables: [TABLE] },
    })
    stops.push(() => servers.stop())
    const { issuer, dynamo } = servers
    const domain = await startCognitoDomain(issuer.tokenEndpoint)
    stops.push(() => domain.stop())
    const upstream = `${domain.origin}/oauth2/token`
    const { clientId, clientSecret } = issuer.clients.basic

    // 1. node:http, as `tokenstash-proxy --upstream ${upstream}` runs it.
    const proxy = createTokenProxy({ upstream, hmacKey: randomBytes(32) })
    const { url } = await proxy.listen(0)
    stops.push(() => proxy.close())
    out(`Cognito-shaped token endpoint  ${upstream}`)
    out(`tokenstash-proxy              ${url}  (clients change only this base URL)`)
    out()

    const basic = `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`
    const ask = async (scope: string, authorization = basic): Promise<Answer> => {
      const res = await fetch(`${url}/oauth2/token`, {
        method: 'POST',
        headers: { authorization, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'client_credentials', scope }),
      })
      return {
        status: res.status,
        cacheStatus: res.headers.get('cache-status'),
        body: (await res.json()) as Record<string, unknown>,
      }
    }
    const show = (label: string, a: Answer) =>
      out(
        `  ${label.padEnd(34)} ${a.status}  ${(a.cacheStatus ?? '').padEnd(22)} ${
          a.body.access_token
            ? `expires_in ${a.body.expires_in}, scope ${a.body.scope ?? '-'}`
            : `error ${a.body.error}`
        }`,
      )

    const first = await ask('orders/read')
    show('orders/read', first)
    const again = await ask('orders/read')
    show('orders/read again', again)
    await sleep(pauseMs)
    const later = await ask('orders/read')
    show(`orders/read ${pauseMs / 1000} s later`, later)
    const write = await ask('orders/write')
    show('orders/write', write)
    const wrong = await ask('orders/read', `Basic ${Buffer.from(`${clientId}:wrong`).toString('base64')}`)
    show('orders/read, wrong secret', wrong)

    expect('first request is a miss', first.cacheStatus === 'tokenstash; fwd=miss')
    expect('second request is a hit with the same token', again.body.access_token === first.body.access_token)
    expect(
      'later hit has a smaller expires_in',
      (later.body.expires_in as number) < (first.body.expires_in as number),
    )
    expect('another scope is another token', write.body.access_token !== first.body.access_token)
    expect(
      'a wrong secret is refused by Cognito, not served',
      wrong.status === 401 && !wrong.body.access_token,
    )
    const httpRequests = await issuer.tokenRequests()
    out(`\n  token requests at the identity provider: ${httpRequests} (read, write, the wrong secret)`)
    expect('three token requests for five answers', httpRequests === 3)

    // 2. The Lambda flavour: src/handler.ts as template.yaml deploys it, behind a Function URL.
    const hmacParameter = '/tokenstash-proxy/hmac-key'
    const encryptionParameter = '/tokenstash-proxy/encryption-key'
    const ssm = await startFakeSsm({
      [hmacParameter]: randomBytes(32).toString('base64'),
      [encryptionParameter]: randomBytes(32).toString('base64'),
    })
    stops.push(() => ssm.stop())
    const lambdaEnv = {
      ...dynamo.env,
      AWS_ENDPOINT_URL_SSM: ssm.endpoint,
      UPSTREAM_TOKEN_URL: upstream,
      HMAC_KEY_PARAMETER: hmacParameter,
      ENCRYPTION_KEY_PARAMETER: encryptionParameter,
      TOKEN_TABLE: TABLE,
      TOKEN_NAMESPACE: 'tokenstash-proxy',
    }
    // What template.yaml sets, plus the loopback endpoints; put back as they were when done.
    const saved = Object.fromEntries(Object.keys(lambdaEnv).map((k) => [k, process.env[k]]))
    stops.push(async () => {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k]
        else process.env[k] = v
      }
    })
    Object.assign(process.env, lambdaEnv)
    const { handler } = await import('./handler')
    const functionUrlEvent = {
      version: '2.0',
      routeKey: '$default',
      rawPath: '/oauth2/token',
      rawQueryString: '',
      headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
      requestContext: {
        domainName: 'abc.lambda-url.eu-west-1.on.aws',
        http: { method: 'POST', path: '/oauth2/token' },
      },
      // Function URLs hand form bodies over base64-encoded.
      body: Buffer.from('grant_type=client_credentials&scope=orders%2Fread').toString('base64'),
      isBase64Encoded: true,
    }
    await issuer.resetCounts()
    out('\nLambda (Function URL events), tokens shared through DynamoDB:')
    const invocations = [await handler(functionUrlEvent), await handler(functionUrlEvent)]
    for (const [i, r] of invocations.entries())
      out(`  invocation ${i + 1}                       ${r.statusCode}  ${r.headers['cache-status']}`)
    const items = await servers
      .dynamoClient()
      .send(new (await import('@aws-sdk/client-dynamodb')).ScanCommand({ TableName: TABLE }))
    const sealed = (items.Items ?? []).every(
      (item) => !JSON.stringify(item).includes(JSON.parse(invocations[0]!.body).access_token),
    )
    out(`  DynamoDB items: ${items.Count}, sealed (no token in clear): ${sealed ? 'yes' : 'no'}`)
    expect(
      'Lambda: miss then hit',
      invocations[0]!.headers['cache-status'] === 'tokenstash; fwd=miss' &&
        invocations[1]!.headers['cache-status'] === 'tokenstash; hit',
    )
    expect('DynamoDB holds the sealed token', (items.Count ?? 0) >= 1 && sealed)
    expect('Lambda made one token request', (await issuer.tokenRequests()) === 1)

    if (serve) {
      out(`\nServing; try the README's curl commands with:`)
      out(`  export PROXY=${url} CLIENT_ID=${clientId} CLIENT_SECRET=${clientSecret}`)
      out('Ctrl-C stops.')
      await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()))
    }
    return { ok: problems.length === 0, tokenRequests: httpRequests, problems }
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => undefined)
  }
}
