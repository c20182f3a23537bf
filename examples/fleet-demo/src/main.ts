// The tokenstash fleet demo: a real OAuth2 server and a DynamoDB-compatible store on loopback, and
// two fleets of simulated Lambda containers calling getToken() on every invocation, side by side:
//   - "per container": each container caches its own token in memory (what most libraries do);
//   - "tokenstash":    the same, plus the shared DynamoDB store, lease and JWE-sealed entries.
// Token requests are counted at the OAuth2 server, per client. A fetch per call would have made one
// request per invocation.
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { clientCredentials, createTokenProvider, type TokenProvider } from '@tokenstash/core'
import { dynamoDbStore } from '@tokenstash/store-dynamodb'
import { createRemoteJWKSet, decodeJwt, jwtVerify } from 'jose'
import { startDynamo } from '../../../test/support/dynamodb'
import { startIssuer } from '../../../test/support/issuer'

const argv = new Map(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=')
    return [k, Number(v)] as const
  }),
)
const CONTAINERS = argv.get('containers') ?? 8
const TTL_S = argv.get('ttl') ?? 6
const SECONDS = argv.get('seconds') ?? 15
const RATE = argv.get('rate') ?? 20 // invocations per second per container

const out = (line = '') => process.stdout.write(`${line}\n`)
const n = (x: number) => x.toLocaleString('en-US')
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

interface Fleet {
  name: string
  clientId: string
  providers: TokenProvider[]
  invocations: number
  expiredServed: number
  failures: number
  lastToken?: string
}

async function main() {
  out('tokenstash fleet demo')
  const [issuer, dynamo] = await Promise.all([startIssuer({ accessTokenTtlSeconds: TTL_S }), startDynamo()])
  const tableName = 'tokenstash-demo'
  await dynamo.createTable(tableName)
  out(`  OAuth2 server   oidc-provider at ${issuer.issuer}, JWT access tokens that live ${TTL_S} s`)
  out(`  shared store    DynamoDB API (dynalite) at ${dynamo.endpoint}, table ${tableName}`)
  out(
    `  fleets          2 × ${CONTAINERS} simulated Lambda containers, ${RATE} invocations/s each, ${SECONDS} s`,
  )
  out()

  const encryptionKey = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64')
  const source = (c: { clientId: string; clientSecret: string }) =>
    clientCredentials({
      tokenEndpoint: issuer.tokenEndpoint,
      clientId: c.clientId,
      clientSecret: c.clientSecret,
      audience: issuer.audience,
      resource: issuer.audience,
      scope: issuer.scopes[0],
    })
  // Every container has its own memory tier and its own DynamoDB client, as separate Lambdas would.
  const perContainer: Fleet = {
    name: 'per container',
    clientId: issuer.clients.post.clientId,
    providers: Array.from({ length: CONTAINERS }, () =>
      createTokenProvider({ source: source(issuer.clients.post), backgroundRefresh: false }),
    ),
    invocations: 0,
    expiredServed: 0,
    failures: 0,
  }
  const clients: DynamoDBClient[] = []
  const stashed: Fleet = {
    name: 'tokenstash',
    clientId: issuer.clients.basic.clientId,
    providers: Array.from({ length: CONTAINERS }, () => {
      const client = dynamo.makeClient()
      clients.push(client)
      return createTokenProvider({
        source: source(issuer.clients.basic),
        store: dynamoDbStore({ client, tableName }),
        encryptionKey,
        backgroundRefresh: false,
      })
    }),
    invocations: 0,
    expiredServed: 0,
    failures: 0,
  }
  const fleets = [perContainer, stashed]

  const invoke = async (fleet: Fleet, p: TokenProvider) => {
    try {
      const token = await p.getToken()
      fleet.invocations++
      // What the API would check: a token served by the cache must not be expired.
      if ((decodeJwt(token).exp ?? 0) * 1000 <= Date.now()) fleet.expiredServed++
      fleet.lastToken = token
    } catch {
      fleet.failures++
    }
  }

  // Cold start: every container's first invocation at the same moment.
  await Promise.all(fleets.flatMap((f) => f.providers.map((p) => invoke(f, p))))
  const requests = async (f: Fleet) => issuer.tokenRequests(f.clientId)
  out(
    `  cold start: ${CONTAINERS} containers at once  →  per container: ${await requests(perContainer)} token requests, ` +
      `tokenstash: ${await requests(stashed)}`,
  )

  const started = Date.now()
  const deadline = started + SECONDS * 1000
  const run = (fleet: Fleet, p: TokenProvider, i: number) =>
    (async () => {
      await sleep((i * 1000) / RATE / CONTAINERS) // containers are not in lockstep
      while (Date.now() < deadline) {
        await invoke(fleet, p)
        await sleep(1000 / RATE)
      }
    })()
  const report = setInterval(async () => {
    const t = ((Date.now() - started) / 1000).toFixed(0).padStart(3)
    out(
      `  t=${t}s  per container: ${String(await requests(perContainer)).padStart(3)} token requests   tokenstash: ${String(await requests(stashed)).padStart(3)}`,
    )
  }, 5000)
  await Promise.all(fleets.flatMap((f) => f.providers.map((p, i) => run(f, p, i))))
  clearInterval(report)

  // The tokens are real: both verify against the server's JWKS.
  const jwks = createRemoteJWKSet(new URL(issuer.jwksUri))
  for (const f of fleets)
    await jwtVerify(f.lastToken!, jwks, { issuer: issuer.issuer, audience: issuer.audience })

  // JWT `exp` has whole seconds, so a token's real lifetime is up to 1 s shorter than the TTL.
  const set = await stashed.providers[0]!.getTokenSet()
  const lifetimeS = (set.expiresAt - set.issuedAt) / 1000
  const total = perContainer.invocations + stashed.invocations
  const rows: Array<[string, string, string]> = [
    ['invocations (both fleets)', n(total), ''],
    ['token requests with a fetch per call', n(stashed.invocations), 'one per invocation'],
    ['token requests, cache per container', n(await requests(perContainer)), 'measured'],
    ['token requests, tokenstash', n(await requests(stashed)), 'measured'],
    [
      'expected for tokenstash',
      `≈ ${(1 + SECONDS / (0.75 * lifetimeS)).toFixed(1)}`,
      `1 + runtime / (0.75 × lifetime of ${lifetimeS.toFixed(1)} s)`,
    ],
    ['expired tokens served', n(perContainer.expiredServed + stashed.expiredServed), ''],
    ['failed invocations', n(perContainer.failures + stashed.failures), ''],
  ]
  out()
  out('  results')
  for (const [k, v, note] of rows) out(`  ${k.padEnd(40)} ${v.padStart(8)}   ${note}`)
  const saved = 1 - (await requests(stashed)) / stashed.invocations
  const vsContainer = (await requests(perContainer)) / Math.max(1, await requests(stashed))
  out()
  out(
    `  tokenstash asked the OAuth2 server ${(saved * 100).toFixed(2)}% less than a fetch per call, and ${vsContainer.toFixed(1)}× less than a cache per container.`,
  )

  for (const c of clients) c.destroy()
  await Promise.all([issuer.stop(), dynamo.stop()])
  if (perContainer.expiredServed + stashed.expiredServed + perContainer.failures + stashed.failures > 0)
    process.exitCode = 1
}

main().catch((err) => {
  process.stderr.write(`demo failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
  process.exit(1)
})
