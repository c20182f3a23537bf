// The real servers the store benchmarks run against, on loopback: an OAuth2 server that counts
// token requests, redis-server and dynalite (the DynamoDB API) with one table.
import { type StartedServers, startServers as startSupportServers } from '../../test/support/servers'

export type Servers = StartedServers

/**
 * Starts the three servers (one-hour tokens) and creates `table` in dynalite.
 *
 * @example
 * ```ts
 * const { issuer, redis, dynamo, stop } = await startServers('tokens')
 * ```
 */
export function startServers(table: string): Promise<Servers> {
  return startSupportServers({
    issuer: { accessTokenTtlSeconds: 3_600 },
    redis: true,
    dynamo: { tables: [table] },
  })
}
