// The service: `GET /orders/{id}` answers with the order it reads from the protected Orders API.
// Everything about tokens is two lines of wiring in createApp; the handler is plain axios.
import { createServer, type Server } from 'node:http'
import { attachToken } from '@tokenstash/axios'
import { createTokenProvider, type TokenProvider, type TokenSource } from '@tokenstash/core'
import { redisStore } from '@tokenstash/store-redis'
import axios, { type AxiosInstance, isAxiosError } from 'axios'
import type { Redis } from 'ioredis'

export interface AppOptions {
  /** How tokens are obtained: `cognito(...)` in production, a Cognito-shaped source locally. */
  source: TokenSource
  /** A connected ioredis client, shared by every instance of the service. */
  redis: Redis
  /** 32 bytes, base64: seals the token in Redis (AES-256-GCM), so Redis never holds it in clear. */
  encryptionKey: string
  /** Base URL of the protected API; the token goes to this origin only. */
  ordersApiUrl: string
  /** Separates environments sharing one Redis. */
  namespace?: string
}

export interface App {
  server: Server
  provider: TokenProvider
  ordersApi: AxiosInstance
}

/**
 * Builds one instance of the service. Several instances (pods, containers) given the same Redis
 * share one token: the fleet asks the identity provider about once per token lifetime.
 *
 * @example
 * ```ts
 * const { server } = createApp({ source: cognito({ domain, clientId, clientSecret, scopes: ['orders/read'] }), redis, encryptionKey, ordersApiUrl })
 * server.listen(8080)
 * ```
 */
export function createApp(options: AppOptions): App {
  const provider = createTokenProvider({
    source: options.source,
    store: redisStore({ client: options.redis }),
    encryptionKey: options.encryptionKey,
    namespace: options.namespace ?? 'orders-service',
  })
  const ordersApi = axios.create({ baseURL: options.ordersApiUrl, timeout: 5_000 })
  attachToken(ordersApi, provider)

  const server = createServer(async (req, res) => {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' })
      res.end(JSON.stringify(body))
    }
    const id = /^\/orders\/([\w-]+)$/.exec(req.url ?? '')?.[1]
    if (req.method !== 'GET' || !id) return send(404, { message: 'Not found' })
    try {
      const { data } = await ordersApi.get(`/orders/${encodeURIComponent(id)}`)
      send(200, { order: data })
    } catch (error) {
      // attachToken has redacted the bearer token from the error, so it can be logged whole.
      if (isAxiosError(error)) {
        console.error('orders API call failed', {
          status: error.response?.status,
          code: error.code,
          url: error.config?.url,
        })
      } else console.error('orders API call failed', error)
      send(502, { message: 'The orders API is unavailable' })
    }
  })
  return { server, provider, ordersApi }
}
