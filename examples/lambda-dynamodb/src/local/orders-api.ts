// The protected API the Lambda calls: accepts a request only with a bearer JWT signed by the
// OAuth2 server, for the right audience, not expired.
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createRemoteJWKSet, jwtVerify } from 'jose'

export interface OrdersApi {
  url: string
  /** Requests answered 200 and 401 so far. */
  counts(): { authorized: number; rejected: number }
  /** Whether `text` holds a bearer token this API accepted, e.g. to check a store keeps none in clear. */
  holdsAcceptedToken(text: string): boolean
  /** From now on, answers 401 to every token accepted so far, as after a revocation or key rotation. */
  revokeAccepted(): void
  stop(): Promise<void>
}

/**
 * Serves `GET /orders/{id}` on a free 127.0.0.1 port, verifying tokens against the issuer's JWKS.
 *
 * @example
 * ```ts
 * const api = await startOrdersApi({ issuer: issuer.issuer, jwksUri: issuer.jwksUri, audience: issuer.audience })
 * ```
 */
export async function startOrdersApi(trust: {
  issuer: string
  jwksUri: string
  audience: string
}): Promise<OrdersApi> {
  const jwks = createRemoteJWKSet(new URL(trust.jwksUri))
  let authorized = 0
  let rejected = 0
  const accepted = new Set<string>()
  const revoked = new Set<string>()
  const server = createServer(async (req, res) => {
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers })
      res.end(JSON.stringify(body))
    }
    const match = /^\/orders\/([^/?]+)$/.exec(req.url ?? '')
    if (req.method !== 'GET' || !match) return send(404, { message: 'Not found' })
    const token = /^Bearer (.+)$/i.exec(req.headers.authorization ?? '')?.[1]
    try {
      if (!token || revoked.has(token)) throw new Error('no usable bearer token')
      const { payload } = await jwtVerify(token, jwks, { issuer: trust.issuer, audience: trust.audience })
      authorized++
      accepted.add(token)
      send(200, {
        id: decodeURIComponent(match[1]!),
        status: 'shipped',
        caller: payload.client_id ?? payload.sub,
      })
    } catch {
      rejected++
      send(401, { message: 'Unauthorized' }, { 'www-authenticate': 'Bearer error="invalid_token"' })
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    counts: () => ({ authorized, rejected }),
    holdsAcceptedToken: (text) => [...accepted].some((token) => text.includes(token)),
    revokeAccepted: () => {
      for (const token of accepted) revoked.add(token)
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
