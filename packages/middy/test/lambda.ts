// Realistic Lambda context objects and event shapes for tests, shaped as the Node.js runtime
// passes them. `now` lets a test move the deadline with its own clock.
import { randomUUID } from 'node:crypto'
import type { Context } from 'aws-lambda'

export function lambdaContext({
  timeoutMs = 3_000,
  functionName = 'orders-sync',
  now = Date.now,
}: {
  timeoutMs?: number
  functionName?: string
  now?: () => number
} = {}): Context {
  const deadline = now() + timeoutMs
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:eu-west-1:123456789012:function:${functionName}`,
    memoryLimitInMB: '512',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: `2026/11/22/[$LATEST]${randomUUID().replaceAll('-', '')}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - now()),
    done: () => {},
    fail: () => {},
    succeed: () => {},
  }
}

/**
 * Calls a handler as the Lambda runtime does: with a plain Context. A Middy handler's type asks
 * for the context its middlewares will have filled (m2mToken adds the token names), which the
 * runtime never checks.
 */
export function invoke<H extends (event: never, context: never) => unknown>(
  handler: H,
  event: unknown,
  context: Context,
): Promise<Awaited<ReturnType<H>>> {
  return (handler as unknown as (event: unknown, context: Context) => Promise<Awaited<ReturnType<H>>>)(
    event,
    context,
  )
}

export const events = {
  apiGatewayV2: () => ({
    version: '2.0',
    routeKey: 'GET /orders/{id}',
    rawPath: '/orders/42',
    rawQueryString: '',
    headers: { accept: 'application/json', host: 'abc123.execute-api.eu-west-1.amazonaws.com' },
    pathParameters: { id: '42' },
    requestContext: {
      accountId: '123456789012',
      apiId: 'abc123',
      domainName: 'abc123.execute-api.eu-west-1.amazonaws.com',
      http: {
        method: 'GET',
        path: '/orders/42',
        protocol: 'HTTP/1.1',
        sourceIp: '203.0.113.7',
        userAgent: 'curl/8.5.0',
      },
      requestId: 'Jq3Xw1pLFiAEMbQ=',
      routeKey: 'GET /orders/{id}',
      stage: '$default',
      time: '22/Nov/2026:10:00:00 +0000',
      timeEpoch: 1795341600000,
    },
    isBase64Encoded: false,
  }),
  sqs: () => ({
    Records: [
      {
        messageId: '059f36b4-87a3-44ab-83d2-661975830a7d',
        receiptHandle: 'AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a...',
        body: JSON.stringify({ orderId: 42 }),
        attributes: {
          ApproximateReceiveCount: '1',
          SentTimestamp: '1795341600000',
          SenderId: 'AIDAIENQZJOLO23YVJ4VO',
          ApproximateFirstReceiveTimestamp: '1795341600001',
        },
        messageAttributes: {},
        md5OfBody: 'e4e68fb7bd0e697a0ae8f1bb342846b3',
        eventSource: 'aws:sqs',
        eventSourceARN: 'arn:aws:sqs:eu-west-1:123456789012:orders',
        awsRegion: 'eu-west-1',
      },
    ],
  }),
  eventBridge: () => ({
    version: '0',
    id: '6a7e8feb-b491-4cf7-a9f1-bf3703467718',
    'detail-type': 'OrderPlaced',
    source: 'com.example.shop',
    account: '123456789012',
    time: '2026-11-22T10:00:00Z',
    region: 'eu-west-1',
    resources: [],
    detail: { orderId: 42 },
  }),
  direct: () => ({ orderId: 42 }),
}
