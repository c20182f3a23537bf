import { type ChildProcess, spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  type DynamoDBClientConfig,
} from '@aws-sdk/client-dynamodb'
import { track } from './children'
import { freePort, waitForPort } from './ports'

const HOST = '127.0.0.1'
const REGION = 'us-east-1'

export interface DynamoServer {
  /** `http://127.0.0.1:<port>` */
  endpoint: string
  region: string
  port: number
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

async function launch(port: number): Promise<ChildProcess> {
  // In memory (no --path); tables become ACTIVE at once so tests do not wait 500 ms per table.
  const child = spawn(
    process.execPath,
    [dynaliteCli(), '--host', HOST, '--port', String(port), '--createTableMs', '0'],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  )
  track(child)
  let stderr = ''
  child.stderr?.on('data', (chunk) => {
    stderr += chunk
  })
  const failed = new Promise<never>((_, reject) => {
    child.once('error', (err) => reject(new Error('dynalite did not start', { cause: err })))
    child.once('exit', (code) =>
      reject(new Error(`dynalite exited with ${code} on port ${port}: ${stderr.trim()}`)),
    )
  })
  failed.catch(() => {})
  await Promise.race([waitForPort(port, HOST, 15_000), failed])
  return child
}

async function kill(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill('SIGKILL')
  await gone
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
  let child: ChildProcess | undefined = await launch(port)
  const endpoint = `http://${HOST}:${port}`
  const makeClient = (config: DynamoDBClientConfig = {}) =>
    new DynamoDBClient({
      endpoint,
      region: REGION,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      ...config,
    })
  return {
    endpoint,
    region: REGION,
    port,
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
    async kill() {
      await kill(child)
      child = undefined
    },
    async restart() {
      await kill(child)
      child = await launch(port)
    },
    freeze() {
      child?.kill('SIGSTOP')
    },
    thaw() {
      child?.kill('SIGCONT')
    },
    async stop() {
      await kill(child)
      child = undefined
    },
  }
}
