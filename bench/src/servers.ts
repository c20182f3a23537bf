// The real servers the store benchmarks run against, on loopback: an OAuth2 server that counts
// token requests, redis-server and dynalite (the DynamoDB API) with one table.
import { type DynamoServer, startDynamo } from '../../test/support/dynamodb'
import { type Issuer, startIssuer } from '../../test/support/issuer'
import { type RedisServer, startRedis } from '../../test/support/redis'

export interface Servers {
  issuer: Issuer
  redis: RedisServer
  dynamo: DynamoServer
  stop(): Promise<void>
}

/**
 * Starts the three servers (one-hour tokens) and creates `table` in dynalite.
 *
 * @example
 * ```ts
 * const { issuer, redis, dynamo, stop } = await startServers('tokens')
 * ```
 */
export async function startServers(table: string): Promise<Servers> {
  const [issuer, redis, dynamo] = await Promise.all([
    startIssuer({ accessTokenTtlSeconds: 3_600 }),
    startRedis(),
    startDynamo(),
  ])
  await dynamo.createTable(table)
  return {
    issuer,
    redis,
    dynamo,
    stop: async () => {
      await Promise.all([issuer.stop(), redis.stop(), dynamo.stop()])
    },
  }
}
