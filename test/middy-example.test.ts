import { ScanCommand } from '@aws-sdk/client-dynamodb'
import nock from 'nock'
import {
  apiGatewayEvent,
  type Container,
  startContainer,
} from '../examples/lambda-dynamodb/src/local/containers'
import { type LocalStack, startLocalStack, TOKEN_TABLE } from '../examples/lambda-dynamodb/src/local/stack'

// examples/lambda-dynamodb's handler, unchanged, in simulated Lambda containers: worker threads,
// each loading the handler module itself (init phase: SSM, provider, prefetch), against the local
// stack the example's README runs (OAuth2 server behind a Cognito-shaped domain, dynalite, SSM,
// a JWT-checking API).

const CONTAINERS = 4

describe('examples/lambda-dynamodb handler in worker-thread containers', () => {
  let stack: LocalStack
  const running: Container[] = []

  beforeAll(async () => {
    nock.disableNetConnect()
    nock.enableNetConnect('127.0.0.1')
    stack = await startLocalStack({ tokenTtlSeconds: 300 })
  })

  afterEach(async () => {
    await Promise.all(running.splice(0).map((c) => c.stop()))
  })

  afterAll(async () => {
    await stack?.stop()
    nock.enableNetConnect()
  })

  beforeEach(async () => {
    await stack.issuer.clearFailures()
    await stack.issuer.resetCounts()
  })

  function fleet(namespace: string, size: number): Container[] {
    const containers = Array.from({ length: size }, (_, i) =>
      startContainer(`${namespace}-${i}`, { ...stack.env, TOKEN_NAMESPACE: namespace }),
    )
    running.push(...containers)
    return containers
  }

  it('should serve a cold fleet and its warm invocations with 1 token request, sealed in DynamoDB', async () => {
    const containers = fleet('cold-fleet', CONTAINERS)
    await Promise.all(containers.map((c) => c.ready))
    const cold = await Promise.all(containers.map((c, i) => c.invoke(apiGatewayEvent(`c${i}`))))
    const warm = await Promise.all(containers.map((c, i) => c.invoke(apiGatewayEvent(`w${i}`))))

    for (const result of [...cold, ...warm]) {
      expect(result).toMatchObject({ ok: true, response: { statusCode: 200 } })
    }
    expect(JSON.parse((cold[0] as { response: { body: string } }).response.body)).toMatchObject({
      id: 'c0',
      caller: stack.issuer.clients.basic.clientId,
    })
    expect(await stack.issuer.tokenRequests()).toBe(1)

    const { Items = [] } = await stack.dynamo.makeClient().send(new ScanCommand({ TableName: TOKEN_TABLE }))
    const entries = Items.filter((item) => item.pk?.S?.startsWith('cold-fleet:'))
    expect(entries.length).toBeGreaterThan(0)
    expect(stack.ordersApi.holdsAcceptedToken(JSON.stringify(entries))).toBe(false)
  })

  it('should replace a token the API stopped accepting once for the whole fleet', async () => {
    const containers = fleet('revocation', 2)
    for (const [i, c] of containers.entries()) {
      expect(await c.invoke(apiGatewayEvent(`before-${i}`))).toMatchObject({
        ok: true,
        response: { statusCode: 200 },
      })
    }
    expect(await stack.issuer.tokenRequests()).toBe(1)
    const rejectedBefore = stack.ordersApi.counts().rejected

    stack.ordersApi.revokeAccepted()
    // The first container gets a 401, invalidates the token (compare-and-delete) and retries with a new one.
    expect(await containers[0]!.invoke(apiGatewayEvent('after-0'))).toMatchObject({
      ok: true,
      response: { statusCode: 200 },
    })
    expect(await stack.issuer.tokenRequests()).toBe(2)
    // The second still holds the old token in memory: 401, then it adopts the replacement from the table.
    expect(await containers[1]!.invoke(apiGatewayEvent('after-1'))).toMatchObject({
      ok: true,
      response: { statusCode: 200 },
    })
    expect(await stack.issuer.tokenRequests()).toBe(2)
    expect(stack.ordersApi.counts().rejected - rejectedBefore).toBe(2)
  })

  it('should answer 503 while the identity provider fails and 200 once it recovers', async () => {
    await stack.issuer.failNext(100, { status: 503 })
    const [container] = fleet('idp-outage', 1)
    const failed = await container!.invoke(apiGatewayEvent('1'))
    expect(failed).toMatchObject({ ok: true, response: { statusCode: 503, headers: { 'retry-after': '1' } } })
    const body = (failed as { response: { body: string } }).response.body
    expect(body).not.toContain(stack.issuer.clients.basic.clientSecret)

    await stack.issuer.clearFailures()
    const recovered = await container!.invoke(apiGatewayEvent('2'))
    expect(recovered).toMatchObject({ ok: true, response: { statusCode: 200 } })
  })
})
