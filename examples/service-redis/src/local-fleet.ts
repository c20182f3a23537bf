// Instances of the service on this machine, for `local.ts` and the example's tests: each with its
// own Redis connection and memory, as separate pods have, getting tokens from the embedded OAuth2
// server configured as a Cognito app client would be.
import type { AddressInfo } from 'node:net'
import { clientCredentials } from '@tokenstash/core'
import { Redis } from 'ioredis'
import type { Issuer } from '../../../test/support/issuer'
import { type App, createApp } from './app'

/** Options of {@link startLocalFleet}. */
export interface LocalFleetOptions {
  /** The embedded OAuth2 server; its basic client stands for the Cognito app client. */
  issuer: Issuer
  redisUrl: string
  ordersApiUrl: string
  instances: number
  encryptionKey: string
  namespace?: string
}

/** Running instances of the service; see {@link startLocalFleet}. */
export interface LocalFleet {
  apps: App[]
  /** `http://127.0.0.1:<port>` of each instance, in order. */
  urls: string[]
  /** Each instance's Redis client, connected. */
  clients: Redis[]
  /** Closes every instance's server and Redis client. */
  close(): Promise<void>
}

/**
 * Starts `instances` instances of the service on loopback ports, sharing one Redis.
 *
 * @example
 * ```ts
 * const fleet = await startLocalFleet({ issuer, redisUrl: redis.url, ordersApiUrl: api.url, instances: 3, encryptionKey })
 * await fetch(`${fleet.urls[0]}/orders/1`)
 * await fleet.close()
 * ```
 */
export async function startLocalFleet(options: LocalFleetOptions): Promise<LocalFleet> {
  const { issuer } = options
  const { clientId, clientSecret } = issuer.clients.basic
  const apps: App[] = []
  const clients: Redis[] = []
  const close = async () => {
    await Promise.all(apps.map((a) => new Promise((resolve) => a.server.close(resolve))))
    await Promise.all(clients.map((c) => c.quit()))
  }
  try {
    for (let i = 0; i < options.instances; i++) {
      const client = new Redis(options.redisUrl, { lazyConnect: true })
      clients.push(client)
      await client.connect()
      const app = createApp({
        // What cognito({ domain, clientId, clientSecret, scopes }) builds, pointed at the embedded server.
        source: clientCredentials({
          tokenEndpoint: issuer.tokenEndpoint,
          clientId,
          clientSecret,
          authMethod: 'client_secret_basic',
          bodyFormat: 'form',
          scope: ['orders/read'],
        }),
        redis: client,
        encryptionKey: options.encryptionKey,
        ordersApiUrl: options.ordersApiUrl,
        namespace: options.namespace,
      })
      await new Promise<void>((resolve) => app.server.listen(0, '127.0.0.1', resolve))
      apps.push(app)
    }
  } catch (error) {
    await close()
    throw error
  }
  const urls = apps.map((a) => `http://127.0.0.1:${(a.server.address() as AddressInfo).port}`)
  return { apps, urls, clients, close }
}
