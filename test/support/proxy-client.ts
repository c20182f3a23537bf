import { randomBytes } from 'node:crypto'
import { createServer, type Server, Socket } from 'node:net'
import type { SecretClient } from './issuer'
import { leakGuard } from './leak-scan'

// What a proxy test sends and reads: a token request shaped like the clients the proxy stands in
// front of (Cognito: form + Basic; client_secret_post; Auth0: JSON), and a TCP relay that plays
// an upstream going down and coming back on the same port.

/** A fresh 32-byte key as base64 (`openssl rand -base64 32`). */
export function randomKey(): string {
  return randomBytes(32).toString('base64')
}

export interface TokenCall {
  client: SecretClient
  /** Overrides the client's secret, e.g. to send a wrong one. */
  secret?: string
  scope?: string
  /** Scope sent in the query string instead of the body. */
  queryScope?: string
  /** Auth0 style: a JSON body with `audience`. */
  json?: { audience: string }
  path?: string
}

export interface TokenReply {
  status: number
  headers: Headers
  body: Record<string, unknown>
}

/** A token request through `baseUrl`, as a client of the upstream would send it. */
export async function requestToken(baseUrl: string, call: TokenCall): Promise<TokenReply> {
  const { client } = call
  const secret = call.secret ?? client.clientSecret
  const headers: Record<string, string> = {}
  let body: string
  if (call.json) {
    headers['content-type'] = 'application/json'
    body = JSON.stringify({
      grant_type: 'client_credentials',
      client_id: client.clientId,
      client_secret: secret,
      audience: call.json.audience,
      ...(call.scope ? { scope: call.scope } : {}),
    })
  } else {
    headers['content-type'] = 'application/x-www-form-urlencoded'
    const form = new URLSearchParams({ grant_type: 'client_credentials' })
    if (call.scope) form.set('scope', call.scope)
    if (client.authMethod === 'client_secret_basic') {
      headers.authorization = `Basic ${Buffer.from(`${client.clientId}:${secret}`).toString('base64')}`
    } else {
      form.set('client_id', client.clientId)
      form.set('client_secret', secret)
    }
    body = form.toString()
  }
  const query = call.queryScope ? `?${new URLSearchParams({ scope: call.queryScope })}` : ''
  const res = await fetch(`${baseUrl}${call.path ?? '/oauth2/token'}${query}`, {
    method: 'POST',
    headers,
    body,
  })
  const text = await res.text()
  const reply = JSON.parse(text) as Record<string, unknown>
  // A proxy in a child process (the CLI) parses tokens the guard cannot see; they are learnt here.
  leakGuard()?.secret(reply.access_token, 'access token')
  return { status: res.status, headers: res.headers, body: reply }
}

/** The claims of a JWT, unverified (the proxy tests check which token came back, not its signature). */
export function claimsOf(token: unknown): Record<string, unknown> {
  return JSON.parse(Buffer.from(String(token).split('.')[1] ?? '', 'base64url').toString('utf8'))
}

export interface Relay {
  url: string
  port: number
  /** Closes the listening socket and every connection: the upstream is gone. */
  down(): Promise<void>
  /** Listens again on the same port. */
  up(): Promise<void>
}

/** A TCP relay from a loopback port to 127.0.0.1:`targetPort`. */
export async function startRelay(targetPort: number): Promise<Relay> {
  const sockets = new Set<Socket>()
  let server: Server | undefined
  let port = 0
  const up = () =>
    new Promise<void>((resolve, reject) => {
      const srv = createServer((inbound) => {
        const outbound = new Socket()
        sockets.add(inbound).add(outbound)
        outbound.connect(targetPort, '127.0.0.1')
        inbound.pipe(outbound).pipe(inbound)
        const drop = () => {
          inbound.destroy()
          outbound.destroy()
          sockets.delete(inbound)
          sockets.delete(outbound)
        }
        inbound.on('error', drop).on('close', drop)
        outbound.on('error', drop).on('close', drop)
      })
      srv.once('error', reject)
      srv.listen(port, '127.0.0.1', () => {
        port = (srv.address() as { port: number }).port
        server = srv
        resolve()
      })
    })
  await up()
  return {
    get url() {
      return `http://127.0.0.1:${port}`
    },
    get port() {
      return port
    },
    down: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        sockets.clear()
        if (!server) return resolve()
        server.close(() => resolve())
        server = undefined
      }),
    up,
  }
}
