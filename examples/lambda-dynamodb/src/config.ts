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
 * Reads one SSM SecureString parameter, decrypted. The encryption key is read once per container,
 * in the init phase (the provider needs it to be built); the client secret is read by the provider
 * itself, at its first token request and again when Cognito answers `invalid_client` (the secret
 * was rotated), so a rotation needs no redeploy. Errors name the parameter, never its value.
 *
 * @example
 * ```ts
 * const encryptionKey = await readParameter(ssm, config.encryptionKeyParameter)
 * const clientSecret = () => readParameter(ssm, config.clientSecretParameter)
 * ```
 */
export async function readParameter(ssm: SSMClient, name: string): Promise<string> {
  const out = await ssm.send(new GetParametersCommand({ Names: [name], WithDecryption: true }))
  const value = out.Parameters?.find((p) => p.Name === name)?.Value
  if (!value) throw new Error(`SSM parameter ${name} not found or empty`)
  return value
}
