// A Cognito user pool domain in front of the embedded OAuth2 server: Cognito serves its token
// endpoint at /oauth2/token, the embedded server at /token. Requests pass through untouched, so the
// handler's `cognito()` source (form body, Basic auth) talks to the real server.
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface CognitoDomain {
  /** `http://127.0.0.1:<port>`, the value of COGNITO_DOMAIN. */
  origin: string
  stop(): Promise<void>
}

const FORWARDED = ['authorization', 'content-type', 'accept', 'user-agent'] as const

export interface CognitoDomainOptions {
  /**
   * Move the query string's parameters into the form body, as the API Gateway caching recipe's
   * request mapping does for clients that send `?scope=...`: the embedded server reads the body only.
   */
  queryToBody?: boolean
}

/**
 * Forwards `POST /oauth2/token` to `tokenEndpoint` on a free 127.0.0.1 port.
 *
 * @example
 * ```ts
 * const domain = await startCognitoDomain(issuer.tokenEndpoint)
 * cognito({ domain: domain.origin, clientId, clientSecret })
 * ```
 */
export async function startCognitoDomain(
  tokenEndpoint: string,
  options: CognitoDomainOptions = {},
): Promise<CognitoDomain> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', async () => {
      const [path, query = ''] = (req.url ?? '/').split('?', 2) as [string, string?]
      if (req.method !== 'POST' || path !== '/oauth2/token') {
        res.writeHead(404, { 'content-type': 'application/json' })
        return res.end('{"error":"not_found"}')
      }
      const headers: Record<string, string> = {}
      for (const name of FORWARDED) {
        const value = req.headers[name]
        if (typeof value === 'string') headers[name] = value
      }
      let body: string | Buffer = Buffer.concat(chunks)
      if (options.queryToBody && query) {
        const form = new URLSearchParams(body.toString('utf8'))
        for (const [name, value] of new URLSearchParams(query)) form.append(name, value)
        body = form.toString()
      }
      try {
        const upstream = await fetch(tokenEndpoint, { method: 'POST', headers, body })
        const out: Record<string, string> = {}
        for (const name of ['content-type', 'cache-control', 'pragma', 'retry-after', 'www-authenticate']) {
          const value = upstream.headers.get(name)
          if (value !== null) out[name] = value
        }
        res.writeHead(upstream.status, out)
        res.end(Buffer.from(await upstream.arrayBuffer()))
      } catch {
        res.writeHead(502, { 'content-type': 'application/json' })
        res.end('{"error":"upstream_unreachable"}')
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    origin: `http://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
