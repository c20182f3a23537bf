import type { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { DeleteCommand, DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb'
import { ConfigError, StoreError, type TokenStore } from '@tokenstash/core'

/**
 * Options of {@link dynamoDbStore}.
 *
 * @example
 * ```ts
 * const options: DynamoDbStoreOptions = { client: new DynamoDBClient({}), tableName: 'token-cache', ttlAttribute: 'expiresAt' }
 * ```
 */
export interface DynamoDbStoreOptions {
  /** A DynamoDBDocumentClient, or a DynamoDBClient (then wrapped with `DynamoDBDocumentClient.from`). Region, credentials and endpoint are configured on it. */
  client: DynamoDBDocumentClient | DynamoDBClient
  /** An existing table with a string partition key and no sort key. */
  tableName: string
  /** Name of the table's partition key attribute. Default `'pk'`. */
  partitionKey?: string
  /** Attribute DynamoDB's TTL feature is enabled on (epoch seconds). Default `'ttl'`. */
  ttlAttribute?: string
  /** Clock, for tests. Default `Date.now`. */
  now?: () => number
}

/**
 * The defaults of {@link dynamoDbStore} and the two attributes it writes besides the key and TTL.
 *
 * @example
 * ```ts
 * dynamoDbStore({ client, tableName: 'tokens', partitionKey: DYNAMODB_STORE_DEFAULTS.partitionKey })
 * ```
 */
export const DYNAMODB_STORE_DEFAULTS = Object.freeze({
  partitionKey: 'pk',
  ttlAttribute: 'ttl',
  /** The opaque string the provider stored. */
  valueAttribute: 'v',
  /** Exact expiry in epoch ms; reads check it because DynamoDB's TTL deletes up to days late. */
  expiresAtAttribute: 'expiresAtMs',
})

const TABLE_NAME = /^[A-Za-z0-9_.-]{3,255}$/
const ATTRIBUTE_NAME = /^[^\s]{1,255}$/

function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value)
  if (value === null) return 'null'
  return typeof value
}

function attributeName(name: string, value: unknown, fallback: string): string {
  const result = value ?? fallback
  if (typeof result !== 'string' || !ATTRIBUTE_NAME.test(result)) {
    throw new ConfigError(
      `Expected \`${name}\` to be a DynamoDB attribute name (1-255 characters, no spaces), got ${show(value)}`,
    )
  }
  return result
}

// A DynamoDBClient sends lib-dynamodb commands too, but only the document client is documented
// to; the class name is checked as well as instanceof because the peer dependency may be
// another copy than the one this package resolved.
function documentClient(client: unknown): DynamoDBDocumentClient {
  const sends = typeof (client as { send?: unknown } | null)?.send === 'function'
  if (!sends) {
    throw new ConfigError(
      `Expected \`client\` to be a DynamoDBDocumentClient or a DynamoDBClient from the AWS SDK v3, got ${Array.isArray(client) ? 'an array' : show(client)}`,
    )
  }
  if (
    client instanceof DynamoDBDocumentClient ||
    (client as object).constructor?.name === 'DynamoDBDocumentClient'
  ) {
    return client as DynamoDBDocumentClient
  }
  return DynamoDBDocumentClient.from(client as DynamoDBClient)
}

/**
 * The expiry attribute as a number, whatever the document client's `unmarshallOptions.wrapNumbers`
 * made of it: a number (default), a NumberValue (`wrapNumbers: true`), or what a wrapNumbers
 * function returned (a bigint, a string, or an object whose string form is the number).
 */
function epochMs(attribute: unknown): number | undefined {
  if (typeof attribute === 'number') return attribute
  if (attribute === null || attribute === undefined) return undefined
  const text =
    typeof attribute === 'object' && typeof (attribute as { value?: unknown }).value === 'string'
      ? (attribute as { value: string }).value
      : typeof attribute === 'bigint' || typeof attribute === 'string'
        ? String(attribute)
        : undefined
  if (text === undefined || !/^\d{1,16}$/.test(text)) return undefined
  return Number(text)
}

function isConditionFailure(err: unknown): boolean {
  return (err as { name?: unknown } | null)?.name === 'ConditionalCheckFailedException'
}

// AWS error messages can echo request values (ValidationException does); only a socket error's
// code or the error's name, e.g. ResourceNotFoundException, is shown.
function reason(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code
  if (typeof code === 'string' && /^E[A-Z0-9_]{2,40}$/.test(code)) return code
  const name = (err as { name?: unknown } | null)?.name
  // Errors from another realm (a vm context, as in jest) reach the caller as the SDK's
  // "AWS SDK error wrapper for Error: connect ECONNREFUSED ..." without their code; only the
  // errno-style word is taken from that message.
  const message = (err as { message?: unknown } | null)?.message
  const errno =
    name === 'Error' && typeof message === 'string'
      ? /\b(E[A-Z][A-Z0-9_]{2,30})\b/.exec(message)?.[1]
      : undefined
  if (errno) return errno
  return typeof name === 'string' && /^[A-Za-z][A-Za-z0-9_.]{0,80}$/.test(name) ? name : 'unknown error'
}

/**
 * A {@link TokenStore} on a DynamoDB table, shared by every Lambda container and service that
 * can reach it. Reads are `GetItem` by key with `ConsistentRead` (never Scan). Each item holds the
 * value, an exact expiry in ms that reads check, and an epoch-seconds TTL attribute so DynamoDB
 * removes old items itself. A lease is a conditional `PutItem` that succeeds only when no
 * unexpired item exists; owner-only release and compare-and-delete are conditional `DeleteItem`s.
 * Failures reject with a {@link StoreError} holding the SDK's error as `cause`.
 *
 * @example
 * ```ts
 * import { DynamoDBClient } from '@aws-sdk/client-dynamodb'
 * import { dynamoDbStore } from '@tokenstash/store-dynamodb'
 *
 * const store = dynamoDbStore({ client: new DynamoDBClient({}), tableName: process.env.TOKEN_TABLE! })
 * const provider = createTokenProvider({ source, store, encryptionKey: process.env.TOKENSTASH_ENCRYPTION_KEY })
 * ```
 */
export function dynamoDbStore(options: DynamoDbStoreOptions): TokenStore {
  if (options === null || typeof options !== 'object') {
    throw new ConfigError(
      `Expected dynamoDbStore options to be an object with \`client\` and \`tableName\`, got ${show(options)}`,
    )
  }
  const client = documentClient(options.client)
  const tableName = options.tableName
  if (typeof tableName !== 'string' || !TABLE_NAME.test(tableName)) {
    throw new ConfigError(
      `Expected \`tableName\` to be a DynamoDB table name (3-255 characters of a-z, A-Z, 0-9, '_', '-', '.'), got ${show(tableName)}`,
    )
  }
  const pk = attributeName('partitionKey', options.partitionKey, DYNAMODB_STORE_DEFAULTS.partitionKey)
  const ttl = attributeName('ttlAttribute', options.ttlAttribute, DYNAMODB_STORE_DEFAULTS.ttlAttribute)
  const { valueAttribute: v, expiresAtAttribute: exp } = DYNAMODB_STORE_DEFAULTS
  if (new Set([pk, ttl, v, exp]).size !== 4) {
    throw new ConfigError(
      `Expected \`partitionKey\` and \`ttlAttribute\` to differ from each other and from '${v}' and '${exp}', got ${show(pk)} and ${show(ttl)}`,
    )
  }
  if (options.now !== undefined && typeof options.now !== 'function') {
    throw new ConfigError(`Expected \`now\` to be a function, got ${show(options.now)}`)
  }
  const now = options.now ?? Date.now

  function item(key: string, value: string, ttlMs: number): Record<string, string | number> {
    const expiresAt = now() + ttlMs
    return { [pk]: key, [v]: value, [exp]: expiresAt, [ttl]: Math.ceil(expiresAt / 1000) }
  }

  async function call<T>(operation: string, key: unknown, fn: (key: string) => Promise<T>): Promise<T> {
    if (typeof key !== 'string' || key === '') {
      throw new StoreError(`DynamoDB ${operation} was called without a non-empty string key`, { operation })
    }
    try {
      return await fn(key)
    } catch (err) {
      const why = reason(err)
      // A socket error is about reaching DynamoDB; anything else is about the table or permissions.
      const hint = /^E[A-Z]/.test(why)
        ? 'check that the DynamoDB endpoint is reachable'
        : 'check the table, its key schema and the IAM policy'
      throw new StoreError(`DynamoDB ${operation} on table ${tableName} failed (${why}); ${hint}`, {
        operation,
        cause: err,
      })
    }
  }

  async function conditionalDelete(key: string, expected: string): Promise<void> {
    try {
      await client.send(
        new DeleteCommand({
          TableName: tableName,
          Key: { [pk]: key },
          ConditionExpression: '#v = :expected',
          ExpressionAttributeNames: { '#v': v },
          ExpressionAttributeValues: { ':expected': expected },
        }),
      )
    } catch (err) {
      // Someone else's value (or none): not deleting is the answer, not a failure.
      if (!isConditionFailure(err)) throw err
    }
  }

  return {
    get(key) {
      return call('get', key, async (k) => {
        const { Item } = await client.send(
          new GetCommand({ TableName: tableName, Key: { [pk]: k }, ConsistentRead: true }),
        )
        const value = Item?.[v]
        const expiresAt = epochMs(Item?.[exp])
        // TTL deletion is lazy: an item past its exact expiry is a miss even while DynamoDB still has it.
        if (typeof value !== 'string' || expiresAt === undefined || expiresAt <= now()) return undefined
        return value
      })
    },
    set(key, value, ttlMs) {
      return call('set', key, async (k) => {
        if (!(ttlMs > 0)) {
          await client.send(new DeleteCommand({ TableName: tableName, Key: { [pk]: k } }))
          return
        }
        await client.send(new PutCommand({ TableName: tableName, Item: item(k, value, ttlMs) }))
      })
    },
    delete(key, expected) {
      return call('delete', key, async (k) => {
        if (expected === undefined)
          await client.send(new DeleteCommand({ TableName: tableName, Key: { [pk]: k } }))
        else await conditionalDelete(k, expected)
      })
    },
    acquireLease(key, owner, ttlMs) {
      return call('acquireLease', key, async (k) => {
        try {
          await client.send(
            new PutCommand({
              TableName: tableName,
              Item: item(k, owner, ttlMs),
              ConditionExpression: 'attribute_not_exists(#pk) OR #exp <= :now',
              // Reserved words (TTL, VALUE...) abound in DynamoDB; names always go through placeholders.
              ExpressionAttributeNames: { '#pk': pk, '#exp': exp },
              ExpressionAttributeValues: { ':now': now() },
            }),
          )
          return true
        } catch (err) {
          if (isConditionFailure(err)) return false
          throw err
        }
      })
    },
    releaseLease(key, owner) {
      return call('releaseLease', key, (k) => conditionalDelete(k, owner))
    },
  }
}
