import { isLoopbackHost } from './loopback'

// `tokenstash-proxy` options: flags first, then environment variables. Keys come from the
// environment only, so they never show in `ps`. A problem is one line naming the option, and
// never repeats a value that may be secret (an unknown `--hmac-key=...`, a URL's password).

export interface CliOptions {
  upstream: string
  port: number
  host: string
  hmacKey: string
  encryptionKey?: string
  redisUrl?: string
  dynamodbTable?: string
  /** Seconds SIGTERM/SIGINT give requests in flight before every connection is closed. */
  drainTimeoutSeconds: number
}

/** What the command line asked for instead of running. */
export type CliRequest = { help: true } | { version: true }

const FLAGS: Record<string, keyof CliOptions> = {
  '--upstream': 'upstream',
  '--port': 'port',
  '--host': 'host',
  '--redis': 'redisUrl',
  '--dynamodb-table': 'dynamodbTable',
  '--drain-timeout': 'drainTimeoutSeconds',
}

export const USAGE =
  'usage: tokenstash-proxy --upstream URL [--port N] [--host H] [--redis URL | --dynamodb-table NAME] ' +
  '[--drain-timeout SECONDS] [--help] [--version] ' +
  '(env: TOKENSTASH_UPSTREAM, PORT, TOKENSTASH_HMAC_KEY, TOKENSTASH_ENCRYPTION_KEY, TOKENSTASH_REDIS_URL, TOKENSTASH_DYNAMODB_TABLE)'

/** An option's name as typed, when it looks like one; anything else is not repeated. */
function shownName(arg: string): string {
  const name = arg.split('=', 1)[0]!
  return /^--?[A-Za-z][A-Za-z0-9-]{0,39}$/.test(name) ? JSON.stringify(name) : '(not shown)'
}

/** The options, or the one line that says which is missing or malformed. */
export function parseCliOptions(
  argv: readonly string[],
  env: Record<string, string | undefined>,
): CliOptions | CliRequest | { error: string } {
  const flags: Partial<Record<keyof CliOptions, string>> = {}
  if (argv.includes('--help') || argv.includes('-h')) return { help: true }
  if (argv.includes('--version')) return { version: true }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    const eq = arg.indexOf('=')
    const name = eq > 0 ? arg.slice(0, eq) : arg
    const field = Object.hasOwn(FLAGS, name) ? FLAGS[name] : undefined
    if (!field) return { error: `unknown option ${shownName(arg)}; ${USAGE}` }
    const value = eq > 0 ? arg.slice(eq + 1) : argv[++i]
    if (value === undefined || value === '' || (eq < 0 && value.startsWith('--')))
      return { error: `option ${name} needs a value` }
    flags[field] = value
  }
  const upstream = flags.upstream ?? env.TOKENSTASH_UPSTREAM
  if (!upstream) return { error: `missing --upstream (or TOKENSTASH_UPSTREAM): the token endpoint URL` }
  let url: URL
  try {
    url = new URL(upstream)
  } catch {
    return { error: 'malformed --upstream (or TOKENSTASH_UPSTREAM): expected an http(s) URL' }
  }
  if (url.username || url.password)
    return {
      error:
        'malformed --upstream (or TOKENSTASH_UPSTREAM): the URL holds credentials; clients send their own, the proxy needs none',
    }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopbackHost(url.hostname)))
    return {
      error: 'malformed --upstream (or TOKENSTASH_UPSTREAM): expected an https URL (http on loopback only)',
    }
  const drainText = flags.drainTimeoutSeconds ?? '10'
  const drainTimeoutSeconds = Number(drainText)
  if (!/^\d+(\.\d+)?$/.test(drainText) || drainTimeoutSeconds > 3600)
    return { error: 'malformed --drain-timeout: expected seconds in [0, 3600]' }
  const portText = flags.port ?? env.PORT ?? '8080'
  const port = Number(portText)
  if (!/^\d+$/.test(portText) || port > 65_535)
    return { error: `malformed --port (or PORT): expected an integer in [0, 65535]` }
  const host = flags.host ?? '127.0.0.1'
  const hmacKey = env.TOKENSTASH_HMAC_KEY
  if (!hmacKey)
    return { error: 'missing TOKENSTASH_HMAC_KEY: 32 random bytes as base64 (`openssl rand -base64 32`)' }
  if (!isKey(hmacKey)) return { error: 'malformed TOKENSTASH_HMAC_KEY: expected 32 bytes as base64' }
  const redisUrl = flags.redisUrl ?? env.TOKENSTASH_REDIS_URL
  const dynamodbTable = flags.dynamodbTable ?? env.TOKENSTASH_DYNAMODB_TABLE
  if (redisUrl && dynamodbTable) return { error: 'conflicting --redis and --dynamodb-table: pass one store' }
  if (redisUrl && !/^rediss?:\/\//.test(redisUrl))
    return { error: 'malformed --redis (or TOKENSTASH_REDIS_URL): expected redis://HOST:PORT' }
  const encryptionKey = env.TOKENSTASH_ENCRYPTION_KEY
  if ((redisUrl || dynamodbTable) && !encryptionKey)
    return { error: 'missing TOKENSTASH_ENCRYPTION_KEY: a shared store needs 32 random bytes as base64' }
  if (encryptionKey && !isKey(encryptionKey))
    return { error: 'malformed TOKENSTASH_ENCRYPTION_KEY: expected 32 bytes as base64' }
  return {
    upstream,
    port,
    host,
    hmacKey,
    drainTimeoutSeconds,
    ...(encryptionKey ? { encryptionKey } : {}),
    ...(redisUrl ? { redisUrl } : {}),
    ...(dynamodbTable ? { dynamodbTable } : {}),
  }
}

function isKey(text: string): boolean {
  return (
    /^[A-Za-z0-9+/_-]+={0,2}$/.test(text.trim()) &&
    Buffer.from(text.trim().replace(/-/g, '+').replace(/_/g, '/'), 'base64').length === 32
  )
}
