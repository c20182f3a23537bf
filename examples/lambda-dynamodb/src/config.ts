import { GetParametersCommand, type SSMClient } from '@aws-sdk/client-ssm'

/** What the function reads from its environment (set by template.yaml). No secret is ever in it. */
export interface Config {
  /** Cognito user pool domain, e.g. `orders-m2m.auth.eu-west-1.amazoncognito.com`. */
  cognitoDomain: string
  cognitoClientId: string
  /** Space-separated custom scopes, e.g. `orders/read`. */
  cognitoScopes: string
  /** Base URL of the protected API. */
  ordersApiUrl: string
  /** The DynamoDB table shared by every container of the function. */
  tokenTable: string
  /** SSM SecureString parameter holding the app client's secret. */
  clientSecretParameter: string
  /** SSM SecureString parameter holding the 32-byte cache encryption key, base64. */
  encryptionKeyParameter: string
  /** Separates stages sharing one table. */
  namespace: string
  /** Bound on each DynamoDB call before the provider treats the table as down and fetches itself. */
  storeTimeoutMs?: number
}

const REQUIRED = {
  cognitoDomain: 'COGNITO_DOMAIN',
  cognitoClientId: 'COGNITO_CLIENT_ID',
  cognitoScopes: 'COGNITO_SCOPES',
  ordersApiUrl: 'ORDERS_API_URL',
  tokenTable: 'TOKEN_TABLE',
  clientSecretParameter: 'CLIENT_SECRET_PARAMETER',
  encryptionKeyParameter: 'ENCRYPTION_KEY_PARAMETER',
} as const

/**
 * Reads the function's configuration; a missing variable fails the init phase with its name.
 *
 * @example
 * ```ts
 * const config = readConfig(process.env)
 * ```
 */
export function readConfig(env: NodeJS.ProcessEnv): Config {
  const missing = Object.values(REQUIRED).filter((name) => !env[name]?.trim())
  if (missing.length > 0) {
    throw new Error(`Missing environment variable(s) ${missing.join(', ')}; see template.yaml`)
  }
  const pick = (key: keyof typeof REQUIRED) => env[REQUIRED[key]]!.trim()
  return {
    cognitoDomain: pick('cognitoDomain'),
    cognitoClientId: pick('cognitoClientId'),
    cognitoScopes: pick('cognitoScopes'),
    ordersApiUrl: pick('ordersApiUrl').replace(/\/+$/, ''),
    tokenTable: pick('tokenTable'),
    clientSecretParameter: pick('clientSecretParameter'),
    encryptionKeyParameter: pick('encryptionKeyParameter'),
    namespace: env.TOKEN_NAMESPACE?.trim() || 'default',
    storeTimeoutMs: env.TOKEN_STORE_TIMEOUT_MS ? Number(env.TOKEN_STORE_TIMEOUT_MS) : undefined,
  }
}

/**
 * Fetches the client secret and the cache encryption key from SSM Parameter Store in one call,
 * decrypted. Runs once per container, in the init phase. Errors name parameters, never values.
 *
 * @example
 * ```ts
 * const { clientSecret, encryptionKey } = await loadSecrets(new SSMClient({}), config)
 * ```
 */
export async function loadSecrets(
  ssm: SSMClient,
  config: Pick<Config, 'clientSecretParameter' | 'encryptionKeyParameter'>,
): Promise<{ clientSecret: string; encryptionKey: string }> {
  const names = [config.clientSecretParameter, config.encryptionKeyParameter]
  const out = await ssm.send(new GetParametersCommand({ Names: names, WithDecryption: true }))
  const byName = new Map((out.Parameters ?? []).map((p) => [p.Name, p.Value]))
  const missing = names.filter((name) => !byName.get(name))
  if (missing.length > 0) throw new Error(`SSM parameter(s) ${missing.join(', ')} not found or empty`)
  return {
    clientSecret: byName.get(config.clientSecretParameter)!,
    encryptionKey: byName.get(config.encryptionKeyParameter)!,
  }
}
