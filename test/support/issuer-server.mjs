// A real OAuth2 authorization server (oidc-provider) for tests, the demo and the bench. It runs in its
// own Node process, started by test/support/issuer.ts with child_process.fork, so that oidc-provider's
// ESM graph and Koa stack stay out of jest's module system and one helper serves every runner.
// The parent sends one `init` message with the configuration and then drives the server over IPC
// (counters, injected failures); this process reports `ready` with the port the OS picked.
import { generateKeyPair, randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { createServer } from 'node:http'
import { promisify } from 'node:util'

if (!process.send) {
  console.error('issuer-server.mjs speaks IPC only: start it through startIssuer() in test/support/issuer.ts')
  process.exit(2)
}

// Without a parent the server is useless; leaving it running would leak a process per crashed test run.
process.on('disconnect', () => process.exit(0))

const TOKEN_PATH = '/token'
const DISCOVERY_PATH = '/.well-known/openid-configuration'

// The listener is attached before oidc-provider loads, so the parent's init message, sent as soon as
// the process exists, is never emitted to nobody; both then proceed in parallel.
const initMessage = once(process, 'message')
// The signing key is made per run (nothing secret is checked in, every run's tokens are its own), on
// the thread pool while the main thread loads oidc-provider: each takes about half a second.
const signingKey = promisify(generateKeyPair)('rsa', { modulusLength: 2048 })
const { default: Provider, errors } = await import('oidc-provider')
const [init] = await initMessage
const { privateKey } = await signingKey
if (init?.type !== 'init')
  throw new Error(`expected an init message first, got ${JSON.stringify(init?.type)}`)
const config = init.config

/** Every POST to the token endpoint, in arrival order: `{ at, clientId?, status?, injected }`. */
let tokenLog = []
let discoveryCount = 0
/** Responses to give instead of oidc-provider's, one per token request, first in first out. */
const failures = []

const signingJwk = {
  ...privateKey.export({ format: 'jwk' }),
  kid: `sig-${randomBytes(6).toString('hex')}`,
  alg: 'RS256',
  use: 'sig',
}

let app
const server = createServer((req, res) => app(req, res))
server.listen(config.port ?? 0, '127.0.0.1')
await once(server, 'listening')
const { port } = server.address()
const issuer = `http://127.0.0.1:${port}`

const resourceServer = {
  scope: config.scopes.join(' '),
  audience: config.audience,
  accessTokenTTL: config.accessTokenTtlSeconds,
  accessTokenFormat: 'jwt',
  jwt: { sign: { alg: 'RS256' } },
}

const provider = new Provider(issuer, {
  clients: config.clients.map((client) => ({
    ...client,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    scope: config.scopes.join(' '),
  })),
  jwks: { keys: [signingJwk] },
  // The forbidden scope is known to the server but granted to no client, so asking for it is invalid_scope.
  scopes: [...config.scopes, config.forbiddenScope],
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // Clients that send no `resource` (Auth0- and Cognito-style requests) still get a JWT for the API.
      defaultResource: () => config.audience,
      getResourceServerInfo: (_ctx, resourceIndicator) => {
        if (resourceIndicator !== config.audience) {
          throw new errors.InvalidTarget(
            `unknown resource, this server only issues tokens for ${config.audience}`,
          )
        }
        return resourceServer
      },
    },
  },
})

provider.use(async (ctx, next) => {
  if (ctx.method === 'GET' && ctx.path === DISCOVERY_PATH) discoveryCount += 1
  if (ctx.method !== 'POST' || ctx.path !== TOKEN_PATH) return next()

  // Counted on arrival, before any answer leaves, so a count read after a response always includes it.
  const entry = {
    at: Date.now(),
    clientId: clientIdFromAuthorization(ctx.get('authorization')),
    injected: false,
  }
  tokenLog.push(entry)

  const failure = failures.shift()
  if (failure) {
    entry.injected = true
    const raw = await readBody(ctx.req)
    entry.clientId ??= clientIdFromParams(parseBody(ctx.get('content-type'), raw))
    if (failure.delayMs) await new Promise((resolve) => setTimeout(resolve, failure.delayMs))
    ctx.status = failure.status
    ctx.set('cache-control', 'no-store')
    if (failure.retryAfterSeconds !== undefined) ctx.set('retry-after', String(failure.retryAfterSeconds))
    ctx.body = failure.body ?? defaultFailureBody(failure.status)
    entry.status = failure.status
    return
  }

  if (ctx.is('application/json') && !(await acceptJsonBody(ctx, entry))) return
  await next()
  entry.clientId ??= ctx.oidc?.client?.clientId ?? clientIdFromParams(ctx.oidc?.body)
  entry.status = ctx.status
})

app = provider.callback()

const operations = {
  tokenRequests: ({ clientId } = {}) =>
    clientId === undefined ? tokenLog.length : tokenLog.filter((e) => e.clientId === clientId).length,
  tokenRequestLog: () => tokenLog,
  discoveryRequests: () => discoveryCount,
  resetCounts: () => {
    tokenLog = []
    discoveryCount = 0
  },
  failNext: ({ count, failure }) => {
    for (let i = 0; i < count; i += 1) failures.push(failure)
    return failures.length
  },
  clearFailures: () => {
    failures.length = 0
  },
}

process.on('message', (message) => {
  if (message?.type !== 'call') return
  const { id, op, args } = message
  const operation = operations[op]
  if (!operation) {
    process.send({ type: 'reply', id, ok: false, error: `unknown operation ${JSON.stringify(op)}` })
    return
  }
  try {
    process.send({ type: 'reply', id, ok: true, result: operation(args) })
  } catch (err) {
    process.send({ type: 'reply', id, ok: false, error: err instanceof Error ? err.message : String(err) })
  }
})

process.send({ type: 'ready', port, issuer, signingKeyId: signingJwk.kid })

function clientIdFromAuthorization(header) {
  if (!header?.toLowerCase().startsWith('basic ')) return undefined
  const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  if (colon < 0) return undefined
  // RFC 6749 2.3.1: the id is form-encoded before it is put into the Basic header.
  try {
    return decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' '))
  } catch {
    return decoded.slice(0, colon)
  }
}

function clientIdFromParams(params) {
  if (!params || typeof params !== 'object') return undefined
  if (typeof params.client_id === 'string') return params.client_id
  if (typeof params.client_assertion === 'string') {
    try {
      const payload = JSON.parse(
        Buffer.from(params.client_assertion.split('.')[1] ?? '', 'base64url').toString(),
      )
      return typeof payload.iss === 'string' ? payload.iss : undefined
    } catch {
      return undefined
    }
  }
  return undefined
}

async function readBody(req) {
  const chunks = []
  for await (const chunk of req) chunks.push(chunk)
  return Buffer.concat(chunks).toString('utf8')
}

function parseBody(contentType, raw) {
  try {
    if (contentType?.includes('application/json')) return JSON.parse(raw)
    return Object.fromEntries(new URLSearchParams(raw))
  } catch {
    return undefined
  }
}

// Auth0-style requests: a JSON body with `audience` (Auth0's name for the API). oidc-provider reads
// forms only, so the body is handed to it as the form it stands for, `audience` as `resource`.
async function acceptJsonBody(ctx, entry) {
  const params = parseBody('application/json', await readBody(ctx.req))
  if (!params || typeof params !== 'object' || Array.isArray(params)) {
    ctx.status = 400
    ctx.body = { error: 'invalid_request', error_description: 'the JSON body is not an object' }
    entry.status = 400
    return false
  }
  entry.clientId ??= clientIdFromParams(params)
  const form = new URLSearchParams(
    Object.entries(params).map(([name, value]) => [name === 'audience' ? 'resource' : name, String(value)]),
  )
  ctx.req.headers['content-type'] = 'application/x-www-form-urlencoded'
  ctx.req.body = form.toString()
  return true
}

function defaultFailureBody(status) {
  if (status === 429 || status >= 500) {
    return { error: 'temporarily_unavailable', error_description: `injected failure (HTTP ${status})` }
  }
  return { error: 'invalid_request', error_description: `injected failure (HTTP ${status})` }
}
