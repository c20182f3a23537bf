import { randomUUID } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { sendJson } from './http'
import { listenOnLoopback } from './ports'

/** A running stand-in for AWS Secrets Manager; see {@link startFakeSecretsManager}. */
export interface FakeSecretsManager {
  /** `http://127.0.0.1:<port>`, for `endpoint` or `AWS_ENDPOINT_URL_SECRETS_MANAGER`. */
  readonly endpoint: string
  /** Sets (or rotates) a secret's string value; a new version each time. */
  put(name: string, value: string): void
  /** GetSecretValue calls so far. */
  calls(): number
  stop(): Promise<void>
}

/**
 * Just enough of AWS Secrets Manager for the SDK's `GetSecretValueCommand` and Powertools'
 * `getSecret`: the JSON 1.1 protocol (`POST /`, `X-Amz-Target: secretsmanager.GetSecretValue`,
 * `{ SecretId }` in, `{ ARN, Name, SecretString, VersionId, VersionStages, CreatedDate }` out,
 * `ResourceNotFoundException` for an unknown id), on a free loopback port. Signatures are not checked.
 *
 * @example
 * ```ts
 * const sm = await startFakeSecretsManager()
 * sm.put('orders/client-secret', 's3cret')
 * new SecretsManagerClient({ endpoint: sm.endpoint, region: 'eu-west-1', credentials })
 * ```
 */
export async function startFakeSecretsManager(): Promise<FakeSecretsManager> {
  const secrets = new Map<string, { value: string; version: string; created: number }>()
  let calls = 0
  const reply = (res: ServerResponse, status: number, body: unknown) =>
    sendJson(res, status, body, { 'content-type': 'application/x-amz-json-1.1' })
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let body = ''
    for await (const chunk of req) body += chunk
    if (req.method !== 'POST' || req.headers['x-amz-target'] !== 'secretsmanager.GetSecretValue') {
      return reply(res, 400, {
        __type: 'UnknownOperationException',
        message: 'only GetSecretValue is served here',
      })
    }
    calls++
    const { SecretId } = JSON.parse(body || '{}') as { SecretId?: string }
    const secret = SecretId === undefined ? undefined : secrets.get(SecretId)
    if (!secret) {
      return reply(res, 400, {
        __type: 'ResourceNotFoundException',
        Message: "Secrets Manager can't find the specified secret.",
      })
    }
    reply(res, 200, {
      ARN: `arn:aws:secretsmanager:eu-west-1:123456789012:secret:${SecretId}-AbCdEf`,
      Name: SecretId,
      SecretString: secret.value,
      VersionId: secret.version,
      VersionStages: ['AWSCURRENT'],
      CreatedDate: secret.created / 1000,
    })
  }
  const { port, stop } = await listenOnLoopback(
    createServer((req, res) => {
      handle(req, res).catch(() => res.destroy())
    }),
  )
  return {
    endpoint: `http://127.0.0.1:${port}`,
    put: (name, value) => secrets.set(name, { value, version: randomUUID(), created: Date.now() }),
    calls: () => calls,
    stop,
  }
}
