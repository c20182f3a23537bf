// `pnpm start` in examples/lambda-dynamodb: runs src/handler.ts end to end on this machine. A fleet
// of cold containers (worker threads, each with its own modules and memory) starts at once against
// a real OAuth2 server behind a Cognito-shaped domain, dynalite, a fake SSM Parameter Store and a
// JWT-checking Orders API; then every container serves warm invocations. Exits 1 if the fleet made
// more than one token request or any call failed.
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ScanCommand } from '@aws-sdk/client-dynamodb'
import { apiGatewayEvent, type Container, type InvokeResult, startContainer } from './containers'
import { startLocalStack, TOKEN_TABLE } from './stack'

// test/support finds dynalite and the issuer's dependencies from the repository root.
process.chdir(join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..'))

const CONTAINERS = Number(process.argv.find((a) => a.startsWith('--containers='))?.split('=')[1] ?? 6)
const WARM_INVOCATIONS = 3

const out = (line = '') => process.stdout.write(`${line}\n`)

async function main(): Promise<number> {
  out('tokenstash example: Middy Lambda + DynamoDB token cache, against embedded servers on 127.0.0.1')
  const stack = await startLocalStack()
  const containers: Container[] = []
  try {
    out(`  identity provider  ${stack.env.COGNITO_DOMAIN}/oauth2/token (Cognito-shaped, real OAuth2 server)`)
    out(`  DynamoDB           ${stack.env.AWS_ENDPOINT_URL_DYNAMODB} table ${TOKEN_TABLE} (dynalite)`)
    out(`  SSM parameters     ${stack.env.AWS_ENDPOINT_URL_SSM} (client secret, cache encryption key)`)
    out(`  Orders API         ${stack.env.ORDERS_API_URL} (verifies the JWT)`)
    out()
    out(`cold start: ${CONTAINERS} containers at once`)
    for (let i = 1; i <= CONTAINERS; i++) containers.push(startContainer(`container-${i}`, stack.env))
    const inits = await Promise.all(containers.map((c) => c.ready))
    const cold = await Promise.all(containers.map((c, i) => c.invoke(apiGatewayEvent(String(100 + i)))))
    for (const [i, c] of containers.entries()) {
      out(`  ${c.name}: init ${inits[i]!.initMs} ms, GET /orders/${100 + i} -> ${describe(cold[i]!)}`)
    }
    const afterCold = await stack.issuer.tokenRequests()

    const warm: InvokeResult[] = []
    for (let round = 0; round < WARM_INVOCATIONS; round++) {
      warm.push(...(await Promise.all(containers.map((c, i) => c.invoke(apiGatewayEvent(String(200 + i)))))))
    }
    const warmOk = warm.filter((r) => r.ok && r.response.statusCode === 200).length
    out(`warm: ${WARM_INVOCATIONS} invocations per container -> ${warmOk}/${warm.length} answered 200`)

    const tokenRequests = await stack.issuer.tokenRequests()
    const invocations = cold.length + warm.length
    const api = stack.ordersApi.counts()
    out()
    out(`token requests at the identity provider: ${tokenRequests} (after the cold start: ${afterCold})`)
    out(
      `  a request per invocation would have made ${invocations}; a memory cache per container ${CONTAINERS}`,
    )
    out(`Orders API: ${api.authorized} authorized, ${api.rejected} rejected`)

    const { Items = [] } = await stack.dynamo.makeClient().send(new ScanCommand({ TableName: TOKEN_TABLE }))
    const tokenItem = Items.find((item) => !item.pk?.S?.includes('#'))
    const sealed = Items.length > 0 && !stack.ordersApi.holdsAcceptedToken(JSON.stringify(Items))
    out(
      `DynamoDB: ${Items.length} item(s); token entry ${tokenItem?.pk?.S ?? '(none)'}, ttl ${tokenItem?.ttl?.N ?? '-'}, ` +
        `sealed (no bearer token in clear): ${sealed ? 'yes' : 'NO'}`,
    )

    const allOk = [...cold, ...warm].every((r) => r.ok && r.response.statusCode === 200)
    const pass = allOk && tokenRequests === 1 && sealed && api.rejected === 0
    out()
    out(pass ? 'OK: the whole fleet made 1 token request' : 'FAILED: see above')
    return pass ? 0 : 1
  } finally {
    await Promise.all(containers.map((c) => c.stop()))
    await stack.stop()
  }
}

function describe(result: InvokeResult): string {
  if (!result.ok) return `error ${result.error.code ?? result.error.name}: ${result.error.message}`
  return `${result.response.statusCode} ${result.response.body ?? ''}`
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
    process.exit(1)
  },
)
