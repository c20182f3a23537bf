// The approach of the blog post that started this project, reimplemented as it is written, so the
// demo can measure it beside the others: a DynamoDB table whose partition key is the token itself.
// Every invocation Scans the table and takes the first row; the JWT's `exp` is decoded and compared
// with now, without a margin; on a miss it fetches a token, Scans again and deletes every row one
// by one, then Puts the new one. There is no lock: a cold burst fetches once per container, and
// rows written by containers racing each other are deleted by the next one to miss.
import { DeleteItemCommand, type DynamoDBClient, PutItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb'
import type { BearerTokenProvider } from '@tokenstash/axios'
import type { TokenSource } from '@tokenstash/core'
import type { StoreCounters } from './counting-store'

function expiresAt(token: string): number {
  const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8'))
  return Number(payload.exp) * 1000
}

/**
 * The blog's token cache as a bearer-token provider, counting its DynamoDB calls into `counters`.
 *
 * @example
 * ```ts
 * attachToken(api, blogTokenCache({ source, client: new DynamoDBClient({}), tableName: 'tokens', counters }))
 * ```
 */
export function blogTokenCache(options: {
  source: TokenSource
  client: DynamoDBClient
  tableName: string
  counters: StoreCounters
}): BearerTokenProvider {
  const { source, client, tableName: TableName, counters } = options
  const scan = async () => {
    counters.reads++
    return (await client.send(new ScanCommand({ TableName }))).Items ?? []
  }
  return {
    async getToken() {
      const cached = (await scan())[0]?.token?.S
      if (cached && expiresAt(cached) > Date.now()) return cached
      const { accessToken } = await source.fetchToken()
      for (const row of await scan()) {
        counters.writes++
        await client.send(new DeleteItemCommand({ TableName, Key: { token: row.token! } }))
      }
      counters.writes++
      await client.send(new PutItemCommand({ TableName, Item: { token: { S: accessToken } } }))
      return accessToken
    },
    // The blog has no invalidation: a rejected token stays until its `exp` passes.
    invalidate: async () => {},
  }
}
