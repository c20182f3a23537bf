// Just enough of SSM Parameter Store (GetParameters, JSON 1.1 protocol) for the handler's init
// phase to run unchanged on loopback: the AWS SDK is pointed at it with AWS_ENDPOINT_URL_SSM.
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface FakeSsm {
  endpoint: string
  /** GetParameters calls so far. */
  calls(): number
  stop(): Promise<void>
}

/**
 * Serves the given SecureString parameters on a free 127.0.0.1 port.
 *
 * @example
 * ```ts
 * const ssm = await startFakeSsm({ '/app/key': 'c2VjcmV0' })
 * process.env.AWS_ENDPOINT_URL_SSM = ssm.endpoint
 * ```
 */
export async function startFakeSsm(parameters: Record<string, string>): Promise<FakeSsm> {
  let calls = 0
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (chunk) => {
      body += chunk
    })
    req.on('end', () => {
      const reply = (status: number, payload: unknown) => {
        res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' })
        res.end(JSON.stringify(payload))
      }
      if (req.method !== 'POST' || req.headers['x-amz-target'] !== 'AmazonSSM.GetParameters') {
        return reply(400, {
          __type: 'UnknownOperationException',
          message: 'only GetParameters is served here',
        })
      }
      calls++
      const { Names = [], WithDecryption = false } = JSON.parse(body || '{}') as {
        Names?: string[]
        WithDecryption?: boolean
      }
      const known = Names.filter((name) => name in parameters)
      reply(200, {
        Parameters: known.map((name) => ({
          Name: name,
          Type: 'SecureString',
          // Without decryption SSM returns the KMS ciphertext; a stand-in keeps the shape.
          Value: WithDecryption ? parameters[name] : Buffer.from(`kms:${name}`).toString('base64'),
          Version: 1,
          DataType: 'text',
          ARN: `arn:aws:ssm:us-east-1:123456789012:parameter${name}`,
        })),
        InvalidParameters: Names.filter((name) => !(name in parameters)),
      })
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    endpoint: `http://127.0.0.1:${port}`,
    calls: () => calls,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
