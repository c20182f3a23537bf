// The Lambda flavour of tokenstash-proxy (template.yaml deploys it behind a Function URL): the
// keys come from SSM Parameter Store once per container, in the init phase; tokens are shared by
// every container through DynamoDB, sealed with AES-256-GCM under the encryption key.
import { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { GetParametersCommand, SSMClient } from '@aws-sdk/client-ssm'
import { createTokenProxy, type TokenProxy } from '@tokenstash/proxy'
import { dynamoDbStore } from '@tokenstash/store-dynamodb'

const env = (name: string): string => {
  const value = process.env[name]
  if (!value) throw new Error(`Missing environment variable ${name} (see template.yaml)`)
  return value
}

async function parameters(names: string[]): Promise<string[]> {
  const { Parameters = [] } = await new SSMClient({}).send(
    new GetParametersCommand({ Names: names, WithDecryption: true }),
  )
  return names.map((name) => {
    const value = Parameters.find((p) => p.Name === name)?.Value
    if (!value) throw new Error(`SSM parameter ${name} is missing or empty`)
    return value
  })
}

async function init(): Promise<TokenProxy> {
  const [hmacKey, encryptionKey] = await parameters([
    env('HMAC_KEY_PARAMETER'),
    env('ENCRYPTION_KEY_PARAMETER'),
  ])
  return createTokenProxy({
    upstream: env('UPSTREAM_TOKEN_URL'),
    hmacKey: hmacKey!,
    encryptionKey,
    store: dynamoDbStore({ client: new DynamoDBClient({}), tableName: env('TOKEN_TABLE') }),
    namespace: env('TOKEN_NAMESPACE'),
  })
}

// Started at module load (the init phase); an invocation waits for it. A failed init (SSM down)
// fails that invocation with its reason and is tried again by the next one.
let ready = init()
ready.catch(() => undefined)

export async function handler(event: unknown) {
  const proxy = await ready.catch((err: unknown) => {
    ready = init()
    ready.catch(() => undefined)
    throw err
  })
  return proxy.lambdaHandler(event)
}
