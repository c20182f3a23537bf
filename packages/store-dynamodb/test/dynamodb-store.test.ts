import { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb'
import { ConfigError, StoreEntryUnreadableError, StoreError } from '@tokenstash/core'
import { dynamoDbStore } from '@tokenstash/store-dynamodb'
import nock from 'nock'
import { rejectionOf } from '../../../test/support/rejection'

const ENDPOINT = 'http://dynamodb.test:8000'

beforeAll(() => nock.disableNetConnect())
afterEach(() => nock.cleanAll())
afterAll(() => nock.enableNetConnect())

function makeClient(maxAttempts = 1) {
  return new DynamoDBClient({
    endpoint: ENDPOINT,
    region: 'eu-west-1',
    credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test' },
    maxAttempts,
  })
}

interface Seen {
  target: string
  body: Record<string, unknown>
}

/** Answers DynamoDB JSON-protocol requests in order; records operation and body. */
function dynamo(...replies: [number, unknown][]) {
  const seen: Seen[] = []
  const scope = nock(ENDPOINT)
  for (const [status, body] of replies) {
    scope.post('/').reply(function (_uri, requestBody) {
      seen.push({
        target: String(this.req.headers['x-amz-target']).replace('DynamoDB_20120810.', ''),
        body: JSON.parse(String(requestBody)) as Record<string, unknown>,
      })
      return [status, JSON.stringify(body), { 'content-type': 'application/x-amz-json-1.0' }]
    })
  }
  return seen
}

/** The PutItem request that writes `Item` to the table `tokens`, with `extra` (a condition) in its body. */
const putItem = (Item: Record<string, unknown>, extra: Record<string, unknown> = {}): Seen => ({
  target: 'PutItem',
  body: { TableName: 'tokens', Item, ...extra },
})

/**
 * A document client known by its class name only (as one from another copy of the SDK is) whose
 * `send` throws `error`; it records each command in `sent`.
 */
function documentClientThrowing(error: Error) {
  return new (class DynamoDBDocumentClient {
    sent: unknown[] = []
    async send(command: unknown) {
      this.sent.push(command)
      throw error
    }
  })()
}

/** The error a `get` of `k` from table `tokens` through `client` fails with. */
const getFailure = (client: unknown) =>
  rejectionOf<StoreError>(dynamoDbStore({ client: client as never, tableName: 'tokens' }).get('k'))

const conditionFailed: [number, unknown] = [
  400,
  {
    __type: 'com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException',
    message: 'The conditional request failed',
  },
]

describe('dynamoDbStore', () => {
  describe('options', () => {
    const client = makeClient()

    it('should reject a missing options object', () => {
      expect(() => dynamoDbStore(null as never)).toThrow(ConfigError)
    })

    it.each([
      [undefined, 'undefined'],
      [{}, 'object'],
      ['dynamodb', '"dynamodb"'],
      [[], 'an array'],
    ])('should reject a client without send (%p)', (bad, shown) => {
      expect(() => dynamoDbStore({ client: bad as never, tableName: 'tokens' })).toThrow(
        `Expected \`client\` to be a DynamoDBDocumentClient or a DynamoDBClient from the AWS SDK v3, got ${shown}`,
      )
    })

    it.each([
      undefined,
      '',
      'ab',
      'has space',
      'x'.repeat(256),
      42,
      'arn:aws:dynamodb:eu-west-1:123456789012:table/',
      'arn:aws:s3:::bucket',
    ])('should reject table name %p', (tableName) => {
      expect(() => dynamoDbStore({ client, tableName: tableName as never })).toThrow(
        /^Expected `tableName` to be a DynamoDB table name/,
      )
    })

    it.each([
      ['partitionKey', ''],
      ['partitionKey', 'has space'],
      ['ttlAttribute', 5],
    ])('should reject %s %p', (name, value) => {
      expect(() => dynamoDbStore({ client, tableName: 'tokens', [name]: value })).toThrow(
        new RegExp(`^Expected \`${name}\` to be a DynamoDB attribute name`),
      )
    })

    it('should refuse an unknown option, naming the nearest known', () => {
      expect(() => dynamoDbStore({ client, tableName: 'tokens', table: 'x' } as never)).toThrow(ConfigError)
      expect(() => dynamoDbStore({ client, tableName: 'tokens', ttlAttr: 'x' } as never)).toThrow(
        /Unknown option `ttlAttr` of dynamoDbStore; did you mean `ttlAttribute`\?/,
      )
    })

    it('should reject attribute names that collide', () => {
      expect(() => dynamoDbStore({ client, tableName: 'tokens', ttlAttribute: 'pk' })).toThrow(/to differ/)
      expect(() => dynamoDbStore({ client, tableName: 'tokens', partitionKey: 'v' })).toThrow(/to differ/)
    })

    it('should reject a now that is not a function', () => {
      expect(() => dynamoDbStore({ client, tableName: 'tokens', now: 5 as never })).toThrow(
        'Expected `now` to be a function, got number',
      )
    })
  })

  describe('requests', () => {
    const now = () => 1_700_000_000_500

    it.each([
      ['a DynamoDBClient', () => makeClient()],
      ['a DynamoDBDocumentClient', () => DynamoDBDocumentClient.from(makeClient())],
    ])('should read with a consistent GetItem by key through %s', async (_, client) => {
      const seen = dynamo([
        200,
        { Item: { pk: { S: 'ns:k' }, v: { S: 'stored' }, expiresAtMs: { N: '1700000001000' } } },
      ])
      expect(await dynamoDbStore({ client: client(), tableName: 'tokens', now }).get('ns:k')).toBe('stored')
      expect(seen).toEqual([
        {
          target: 'GetItem',
          body: { TableName: 'tokens', Key: { pk: { S: 'ns:k' } }, ConsistentRead: true },
        },
      ])
    })

    it.each([
      ['wrapNumbers: true (NumberValue)', true],
      ['a wrapNumbers function returning bigint', (n: string) => BigInt(n)],
      ['a wrapNumbers function returning a string', (n: string) => n],
      // decimal.js, big.js and the like: no `value`, the number is the string form.
      [
        'a wrapNumbers function returning a decimal-like object',
        (n: string) => ({ digits: n, toString: () => n, valueOf: () => Number.NaN }),
      ],
    ])('should read the expiry of a document client built with %s', async (_, wrapNumbers) => {
      const reply: [number, unknown] = [
        200,
        { Item: { pk: { S: 'k' }, v: { S: 'stored' }, expiresAtMs: { N: '1700000001000' } } },
      ]
      const expired: [number, unknown] = [
        200,
        { Item: { pk: { S: 'k' }, v: { S: 'old' }, expiresAtMs: { N: '1700000000500' } } },
      ]
      dynamo(reply, expired)
      const client = DynamoDBDocumentClient.from(makeClient(), {
        unmarshallOptions: { wrapNumbers: wrapNumbers as never },
      })
      const store = dynamoDbStore({ client, tableName: 'tokens', now })
      expect(await store.get('k')).toBe('stored')
      expect(await store.get('k')).toBeUndefined()
    })

    it('should report an entry unreadable, not a miss nor a failing store, when a wrapNumbers function made its expiry unreadable', async () => {
      dynamo([200, { Item: { pk: { S: 'k' }, v: { S: 'stored' }, expiresAtMs: { N: '1700000001000' } } }])
      const client = DynamoDBDocumentClient.from(makeClient(), {
        unmarshallOptions: { wrapNumbers: (() => ({ opaque: true })) as never },
      })
      const err = await dynamoDbStore({ client, tableName: 'tokens', now })
        .get('k')
        .catch((e: unknown) => e)
      // The provider turns it into a `store-unreadable` event (corrupt) with this message.
      expect(err).toBeInstanceOf(StoreEntryUnreadableError)
      expect((err as StoreError).message).toBe(
        "DynamoDB get on table tokens: the item's `expiresAtMs` (object) does not read as a number; a document client's `wrapNumbers` function must return a number, a bigint, a string, or an object whose string form is the number",
      )
    })

    it('should accept a table ARN (a table of another account, shared by a resource-based policy)', async () => {
      const arn = 'arn:aws:dynamodb:eu-west-1:123456789012:table/token-cache'
      const seen = dynamo([200, {}])
      expect(await dynamoDbStore({ client: makeClient(), tableName: arn, now }).get('k')).toBeUndefined()
      expect(seen[0]?.body.TableName).toBe(arn)
    })

    it.each([
      ['no item', {}],
      ['an expired item', { Item: { pk: { S: 'k' }, v: { S: 'old' }, expiresAtMs: { N: '1700000000500' } } }],
      ['an item without expiry', { Item: { pk: { S: 'k' }, v: { S: 'x' } } }],
      [
        'a value that is not a string',
        { Item: { pk: { S: 'k' }, v: { N: '1' }, expiresAtMs: { N: '1800000000000' } } },
      ],
    ])('should miss on %s', async (_, reply) => {
      dynamo([200, reply])
      expect(await dynamoDbStore({ client: makeClient(), tableName: 'tokens', now }).get('k')).toBeUndefined()
    })

    it('should put the value with its exact expiry and a TTL in epoch seconds, under custom names', async () => {
      const seen = dynamo([200, {}])
      await dynamoDbStore({
        client: makeClient(),
        tableName: 'tokens',
        partitionKey: 'id',
        ttlAttribute: 'expireAt',
        now,
      }).set('ns:k', 'val', 1_000)
      expect(seen[0]).toEqual(
        putItem({
          id: { S: 'ns:k' },
          v: { S: 'val' },
          expiresAtMs: { N: '1700000001500' },
          expireAt: { N: '1700000002' },
        }),
      )
    })

    it('should take a lease with a conditional put and answer false on ConditionalCheckFailed', async () => {
      const seen = dynamo([200, {}], conditionFailed)
      const store = dynamoDbStore({ client: makeClient(), tableName: 'tokens', now })
      expect(await store.acquireLease('k#lease', 'a', 5_000)).toBe(true)
      expect(await store.acquireLease('k#lease', 'b', 5_000)).toBe(false)
      expect(seen[0]?.body).toMatchObject({
        ConditionExpression: 'attribute_not_exists(#pk) OR #exp <= :now',
        ExpressionAttributeNames: { '#pk': 'pk', '#exp': 'expiresAtMs' },
        ExpressionAttributeValues: { ':now': { N: '1700000000500' } },
      })
    })

    it('should renew a lease with a put conditioned on its owner and an unexpired lease', async () => {
      const seen = dynamo([200, {}], conditionFailed)
      const store = dynamoDbStore({ client: makeClient(), tableName: 'tokens', now })
      expect(await store.renewLease('k#lease', 'me', 5_000)).toBe(true)
      expect(await store.renewLease('k#lease', 'me', 5_000)).toBe(false)
      const item = {
        pk: { S: 'k#lease' },
        v: { S: 'me' },
        expiresAtMs: { N: '1700000005500' },
        ttl: { N: '1700000006' },
      }
      expect(seen[0]).toEqual(
        putItem(item, {
          ConditionExpression: '#v = :owner AND #exp > :now',
          ExpressionAttributeNames: { '#v': 'v', '#exp': 'expiresAtMs' },
          ExpressionAttributeValues: { ':owner': { S: 'me' }, ':now': { N: '1700000000500' } },
        }),
      )
    })

    it('should not abort a lease put in flight when the signal aborts: its late answer still arrives for the provider to release', async () => {
      const throttled: [number, unknown] = [
        400,
        {
          __type: 'com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException',
          message: 'Rate exceeded',
        },
      ]
      const seen = dynamo(throttled, throttled, [200, {}])
      const controller = new AbortController()
      const store = dynamoDbStore({ client: makeClient(3), tableName: 'tokens', now })
      const acquiring = store.acquireLease('k#lease', 'me', 5_000, { signal: controller.signal })
      for (let i = 0; i < 2_000 && seen.length === 0; i++) await new Promise((r) => setTimeout(r, 5))
      expect(seen).toHaveLength(1)
      controller.abort()
      // The SDK's third attempt is granted: the answer reaches the caller, who released nothing yet.
      await expect(acquiring).resolves.toBe(true)
      expect(seen).toHaveLength(3)
      // A call whose signal is aborted before it starts is not sent.
      await expect(
        store.acquireLease('k#lease', 'me', 5_000, { signal: controller.signal }),
      ).rejects.toBeInstanceOf(StoreError)
      expect(seen).toHaveLength(3)
    })

    it('should release and compare-and-delete with a condition, treating a failed condition as a no', async () => {
      const seen = dynamo(conditionFailed, conditionFailed, [200, {}])
      const store = dynamoDbStore({ client: makeClient(), tableName: 'tokens', now })
      await expect(store.releaseLease('k#lease', 'me')).resolves.toBeUndefined()
      await expect(store.delete('k', 'old')).resolves.toBeUndefined()
      await store.delete('k')
      expect(seen.map((s) => s.target)).toEqual(['DeleteItem', 'DeleteItem', 'DeleteItem'])
      expect(seen[0]?.body).toMatchObject({
        Key: { pk: { S: 'k#lease' } },
        ConditionExpression: '#v = :expected',
        ExpressionAttributeValues: { ':expected': { S: 'me' } },
      })
      expect(seen[2]?.body).toEqual({ TableName: 'tokens', Key: { pk: { S: 'k' } } })
    })

    it('should delete instead of writing a ttl that is already over', async () => {
      const seen = dynamo([200, {}])
      await dynamoDbStore({ client: makeClient(), tableName: 'tokens', now }).set('k', 'v', -5)
      expect(seen.map((s) => s.target)).toEqual(['DeleteItem'])
    })
  })

  describe('errors', () => {
    it('should wrap a service error as a StoreError naming only the error type', async () => {
      dynamo([
        400,
        {
          __type: 'com.amazon.coral.validate#ValidationException',
          message: 'Item value secret-value-123 is invalid',
        },
      ])
      const err = (await dynamoDbStore({ client: makeClient(), tableName: 'tokens' })
        .set('k', 'secret-value-123', 1_000)
        .catch((e: unknown) => e)) as StoreError
      expect(err).toBeInstanceOf(StoreError)
      expect(err).toMatchObject({ code: 'ERR_STORE', operation: 'set' })
      expect(err.message).toBe(
        'DynamoDB set on table tokens failed (ValidationException); check the table, its key schema and the IAM policy',
      )
      expect((err.cause as Error).name).toBe('ValidationException')
    })

    it('should wrap a failed condition on anything but lease and compare-and-delete as an error', async () => {
      dynamo([500, { __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError', message: 'boom' }])
      await expect(
        dynamoDbStore({ client: makeClient(), tableName: 'tokens' }).acquireLease('k#lease', 'a', 1),
      ).rejects.toThrow('DynamoDB acquireLease on table tokens failed (InternalServerError)')
    })

    it('should use a document client from another copy of the SDK as is and wrap its network errors', async () => {
      // Same class name, different class: what a second copy of @aws-sdk/lib-dynamodb looks like.
      const client = documentClientThrowing(
        Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:443'), { code: 'ECONNREFUSED' }),
      )
      const err = await getFailure(client)
      expect(client.sent).toHaveLength(1)
      expect(err).toBeInstanceOf(StoreError)
      expect(err.message).toBe(
        'DynamoDB get on table tokens failed (ECONNREFUSED); check that the DynamoDB endpoint is reachable',
      )
      expect((err.cause as { code: string }).code).toBe('ECONNREFUSED')
    })

    it('should name the errno of an error the SDK wrapped, and nothing else from its message', async () => {
      const err = await getFailure(
        documentClientThrowing(
          new Error(
            'AWS SDK error wrapper for Error: connect ECONNREFUSED 10.1.2.3:443 value=secret-value-123',
          ),
        ),
      )
      expect(err.message).toBe(
        'DynamoDB get on table tokens failed (ECONNREFUSED); check that the DynamoDB endpoint is reachable',
      )
    })

    it("should name the type of a socket hang-up the SDK wrapped (its TimeoutError), as the endpoint's problem", async () => {
      // What a request cut by a stopping endpoint reaches the caller as under jest (another realm):
      // the SDK names ECONNRESET/EPIPE 'TimeoutError', and the wrapper keeps no code.
      const err = await getFailure(
        documentClientThrowing(
          new Error('AWS SDK error wrapper for TimeoutError: socket hang up value=secret-value-123'),
        ),
      )
      expect(err.message).toBe(
        'DynamoDB get on table tokens failed (TimeoutError); check that the DynamoDB endpoint is reachable',
      )
    })

    it('should reject an empty key before calling DynamoDB', async () => {
      await expect(
        dynamoDbStore({ client: makeClient(), tableName: 'tokens' }).get(''),
      ).rejects.toBeInstanceOf(StoreError)
      expect(nock.pendingMocks()).toEqual([])
    })
  })
})
