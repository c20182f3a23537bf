import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb'
import { StoreError } from '@tokenstash/core'
import { runStoreContract } from '@tokenstash/core/testing'
import { dynamoDbStore } from '@tokenstash/store-dynamodb'
import { useServers } from './support/servers'

const servers = useServers({ dynamo: { tables: ['tokens', { name: 'tokens-custom', partitionKey: 'id' }] } })

describe('dynamoDbStore on dynalite', () => {
  runStoreContract('dynamoDbStore (DynamoDBClient)', () =>
    dynamoDbStore({ client: servers.dynamoClient(), tableName: 'tokens' }),
  )

  let doc: DynamoDBDocumentClient
  runStoreContract(
    'dynamoDbStore (DynamoDBDocumentClient, custom attributes)',
    () => {
      doc = DynamoDBDocumentClient.from(servers.dynamoClient())
      return dynamoDbStore({
        client: doc,
        tableName: 'tokens-custom',
        partitionKey: 'id',
        ttlAttribute: 'expireAt',
      })
    },
    { teardown: () => doc.destroy() },
  )

  describe('dynamoDbStore', () => {
    let client: DynamoDBDocumentClient
    beforeAll(() => {
      client = DynamoDBDocumentClient.from(servers.dynamoClient())
    })

    it('should write the value, an exact ms expiry and an epoch-seconds TTL under the key itself', async () => {
      const t = 1_900_000_000_123
      const store = dynamoDbStore({ client, tableName: 'tokens', now: () => t })
      await store.set('default:abc', 'opaque', 60_000)
      const { Item } = await client.send(new GetCommand({ TableName: 'tokens', Key: { pk: 'default:abc' } }))
      expect(Item).toEqual({
        pk: 'default:abc',
        v: 'opaque',
        expiresAtMs: t + 60_000,
        ttl: Math.ceil((t + 60_000) / 1000),
      })
    })

    it('should miss an item past its exact expiry that DynamoDB has not deleted yet', async () => {
      let t = 1_900_000_000_000
      const store = dynamoDbStore({ client, tableName: 'tokens', now: () => t })
      await store.set('lazy:ttl', 'v', 1_000)
      t += 999
      expect(await store.get('lazy:ttl')).toBe('v')
      t += 1
      expect(await store.get('lazy:ttl')).toBeUndefined()
    })

    it('should grant a lease over an expired one still in the table', async () => {
      let t = 1_900_000_000_000
      const store = dynamoDbStore({ client, tableName: 'tokens', now: () => t })
      expect(await store.acquireLease('lazy:lease#lease', 'crashed', 5_000)).toBe(true)
      t += 4_999
      expect(await store.acquireLease('lazy:lease#lease', 'next', 5_000)).toBe(false)
      t += 1
      expect(await store.acquireLease('lazy:lease#lease', 'next', 5_000)).toBe(true)
    })

    it('should wrap a missing table as a StoreError naming the operation', async () => {
      const store = dynamoDbStore({ client, tableName: 'no-such-table' })
      const err = await store.set('k', 'value-that-must-not-leak', 1_000).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(StoreError)
      expect(err).toMatchObject({ code: 'ERR_STORE', operation: 'set' })
      expect((err as StoreError).message).toContain('ResourceNotFoundException')
      expect((err as StoreError).message).not.toContain('value-that-must-not-leak')
      expect((err as StoreError).cause).toBeInstanceOf(Error)
    })
  })
})
