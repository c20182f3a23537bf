import type { ChildProcess } from 'node:child_process'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  type DynamoDBClientConfig,
} from '@aws-sdk/client-dynamodb'
import { serverProcess, spawnServer } from './children'
import { freePort } from './ports'

const HOST = '127.0.0.1'
const REGION = 'us-east-1'
/** dynalite checks no signature: any key pair will do. */
const CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' }

export interface DynamoServer {
  /** `http://127.0.0.1:<port>` */
  endpoint: string
  region: string
  port: number
  /**
   * The environment that points the AWS SDK of another process (a proxy, a Lambda container) at
   * this server: `AWS_REGION`, dummy credentials and `AWS_ENDPOINT_URL_DYNAMODB`.
   */
  env: Record<string, string>
  /** A DynamoDBClient for this server (dummy credentials); `config` overrides, e.g. `maxAttempts`. */
  makeClient(config?: DynamoDBClientConfig): DynamoDBClient
  /** Creates a table with a string partition key (and no sort key) and waits until it is ACTIVE. */
  createTable(name: string, options?: { partitionKey?: string }): Promise<void>
  /** Kills the server (like a crash), keeping its port for {@link restart}. Tables are gone with it. */
  kill(): Promise<void>
  /** Starts the server again on the same port, empty (recreate tables). */
  restart(): Promise<void>
  /**
   * Stops the server process (SIGSTOP): connections stay open and requests get no answer, as from
   * an endpoint that stalls, until {@link thaw} or {@link kill}.
   */
  freeze(): void
  /** Lets a frozen server run again (SIGCONT). */
  thaw(): void
  /** Kills the server. Safe to call twice. */
  stop(): Promise<void>
}

// jest runs this file as CommonJS (`require` exists); tsx in the bench and examples as ESM from the root.
function dynaliteCli(): string {
  const attempts = [
    () => require.resolve('dynalite/cli.js'),
    () => createRequire(join(process.cwd(), 'test', 'package.json')).resolve('dynalite/cli.js'),
    () => createRequire(join(process.cwd(), 'package.json')).resolve('dynalite/cli.js'),
  ]
  for (const attempt of attempts) {
    try {
      return attempt()
    } catch {}
  }
  throw new Error('dynalite is not installed: run `pnpm install` at the repository root')
}

function launch(port: number): Promise<ChildProcess> {
  // In memory (no --path); tables become ACTIVE at once so tests do not wait 500 ms per table.
  const args = [dynaliteCli(), '--host', HOST, '--port', String(port), '--createTableMs', '0']
  return spawnServer({ name: 'dynalite', command: process.execPath, args, port, timeoutMs: 15_000 })
}

/**
 * dynalite (an in-memory DynamoDB-compatible server) in a child process on a free loopback port.
 * It implements GetItem/PutItem/DeleteItem with conditions but not UpdateTimeToLive.
 *
 * @example
 * ```ts
 * const dynamo = await startDynamo()
 * await dynamo.createTable('tokens')
 * const store = dynamoDbStore({ client: dynamo.makeClient(), tableName: 'tokens' })
 * ```
 */
export async function startDynamo(): Promise<DynamoServer> {
  const port = await freePort()
  const server = await serverProcess(() => launch(port))
  const endpoint = `http://${HOST}:${port}`
  const makeClient = (config: DynamoDBClientConfig = {}) =>
    new DynamoDBClient({
      endpoint,
      region: REGION,
      credentials: CREDENTIALS,
      ...config,
    })
  return {
    endpoint,
    region: REGION,
    port,
    env: {
      AWS_REGION: REGION,
      AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
      AWS_ENDPOINT_URL_DYNAMODB: endpoint,
    },
    makeClient,
    async createTable(name, { partitionKey = 'pk' } = {}) {
      const client = makeClient()
      try {
        await client.send(
          new CreateTableCommand({
            TableName: name,
            AttributeDefinitions: [{ AttributeName: partitionKey, AttributeType: 'S' }],
            KeySchema: [{ AttributeName: partitionKey, KeyType: 'HASH' }],
            BillingMode: 'PAY_PER_REQUEST',
          }),
        )
        for (let i = 0; i < 100; i++) {
          const { Table } = await client.send(new DescribeTableCommand({ TableName: name }))
          if (Table?.TableStatus === 'ACTIVE') return
          await new Promise((r) => setTimeout(r, 50))
        }
        throw new Error(`table ${name} did not become ACTIVE`)
      } finally {
        client.destroy()
      }
    },
    kill: server.kill,
    restart: server.restart,
    freeze: () => server.signal('SIGSTOP'),
    thaw: () => server.signal('SIGCONT'),
    stop: server.kill,
  }
}
