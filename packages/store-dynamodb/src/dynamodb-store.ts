import type { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  type GetCommandOutput,
  PutCommand,
} from '@aws-sdk/lib-dynamodb'
import {
  ConfigError,
  type RenewingTokenStore,
  refuseUnknownOptions,
  type StoreCallOptions,
  StoreEntryUnreadableError,
  StoreError,
  type TokenStore,
} from '@tokenstash/core'

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
 * The store {@link dynamoDbStore} returns: a {@link TokenStore} whose methods take
 * {@link StoreCallOptions}, with `renewLease`. A call whose `signal` is already aborted is not
 * sent; one in flight is never aborted (the SDK gets no `abortSignal`): an aborted conditional put
 * may have landed with its answer lost, and only the answer lets the provider release a lease it
 * gave up waiting for. Aborted requests also left Node's sockets emitting errors with no listener
 * (uncaught `write EPIPE` and `connect ECONNRESET` when the endpoint died) on a loaded machine.
 *
 * @example
 * ```ts
 * const store: DynamoDbTokenStore = dynamoDbStore({ client, tableName: 'tokens' })
 * await store.renewLease('ns:ab12#lease', owner, 10_000)
 * ```
 */
export type DynamoDbTokenStore = RenewingTokenStore

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
// A table in another account is named by its ARN (DynamoDB resource-based policies).
const TABLE_ARN = /^arn:aws[a-z-]*:dynamodb:[a-z0-9-]+:\d{12}:table\/[A-Za-z0-9_.-]{3,255}$/
const OPTIONS = ['client', 'tableName', 'partitionKey', 'ttlAttribute', 'now'] as const
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
  if (typeof attribute === 'number') return Number.isSafeInteger(attribute) ? attribute : undefined
  if (attribute === null || attribute === undefined) return undefined
  let text: string | undefined
  if (typeof attribute === 'bigint' || typeof attribute === 'string') text = String(attribute)
  else if (typeof attribute === 'object') {
    // A NumberValue keeps the digits in `value`; decimal.js, big.js and the like in their toString.
    const value = (attribute as { value?: unknown }).value
    text = typeof value === 'string' ? value : String(attribute)
  }
  const digits = text === undefined ? undefined : /^(\d{1,16})(?:\.0*)?$/.exec(text)?.[1]
  return digits === undefined ? undefined : Number(digits)
}

/**
 * An item whose expiry cannot be read as a number: a `wrapNumbers` function returning something
 * that neither holds the digits in `value` nor prints them. A miss would be silent (every container
 * fetching its own token); a failure shows up as a store error.
 */
class UnreadableExpiry extends Error {
  constructor(attribute: unknown) {
    const kind = attribute === null ? 'null' : typeof attribute
    super(`the item's \`${DYNAMODB_STORE_DEFAULTS.expiresAtAttribute}\` (${kind}) does not read as a number`)
    this.name = 'UnreadableExpiry'
  }
}

/** `client.send`, with the caller's abort signal when it gave one. */
type Send = <Output>(command: { readonly input: object }) => Promise<Output>

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
  // A socket hang-up (ECONNRESET, EPIPE) the SDK renamed TimeoutError reaches jest wrapped as
  // "AWS SDK error wrapper for TimeoutError: socket hang up": the wrapped error's name is taken.
  const wrapped =
    name === 'Error' && typeof message === 'string'
      ? /^AWS SDK error wrapper for ([A-Za-z][A-Za-z0-9_]{0,80}):/.exec(message)?.[1]
      : undefined
  if (wrapped && wrapped !== 'Error') return wrapped
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
export function dynamoDbStore(options: DynamoDbStoreOptions): DynamoDbTokenStore {
  if (options === null || typeof options !== 'object') {
    throw new ConfigError(
      `Expected dynamoDbStore options to be an object with \`client\` and \`tableName\`, got ${show(options)}`,
    )
  }
  refuseUnknownOptions('dynamoDbStore', options, OPTIONS)
  const client = documentClient(options.client)
  const tableName = options.tableName
  if (typeof tableName !== 'string' || !(TABLE_NAME.test(tableName) || TABLE_ARN.test(tableName))) {
    throw new ConfigError(
      `Expected \`tableName\` to be a DynamoDB table name (3-255 characters of a-z, A-Z, 0-9, '_', '-', '.') or a table ARN (arn:aws:dynamodb:<region>:<account>:table/<name>), got ${show(tableName)}`,
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

  async function call<T>(
    operation: string,
    key: unknown,
    callOptions: StoreCallOptions | undefined,
    fn: (key: string, send: Send) => Promise<T>,
  ): Promise<T> {
    if (typeof key !== 'string' || key === '') {
      throw new StoreError(`DynamoDB ${operation} was called without a non-empty string key`, { operation })
    }
    const signal = callOptions?.signal
    // Not passed to the SDK as `abortSignal`: see DynamoDbTokenStore. A call that lands after its
    // caller gave up is answered all the same, and the provider releases a lease granted that late.
    const send: Send = (command) => client.send(command as never) as never
    try {
      signal?.throwIfAborted()
      return await fn(key, send)
    } catch (err) {
      if (err instanceof UnreadableExpiry) {
        // DynamoDB answered: the entry is unreadable, the store is not failing (a `store-unreadable` event).
        throw new StoreEntryUnreadableError(
          `DynamoDB ${operation} on table ${tableName}: ${err.message}; a document client's \`wrapNumbers\` function must return a number, a bigint, a string, or an object whose string form is the number`,
          { operation, cause: err },
        )
      }
      const why = reason(err)
      // A socket error or a timeout is about reaching DynamoDB; anything else is about the table or permissions.
      const hint =
        /^E[A-Z]/.test(why) || why === 'TimeoutError'
          ? 'check that the DynamoDB endpoint is reachable'
          : 'check the table, its key schema and the IAM policy'
      throw new StoreError(`DynamoDB ${operation} on table ${tableName} failed (${why}); ${hint}`, {
        operation,
        cause: err,
      })
    }
  }

  async function conditionalDelete(send: Send, key: string, expected: string): Promise<void> {
    try {
      await send(
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

  /** Writes the lease `owner` holds for `ttlMs` if `condition` holds (`#exp` and `:now` always bound); true when it did. */
  async function putLeaseIf(
    send: Send,
    key: string,
    owner: string,
    ttlMs: number,
    condition: string,
    names: Record<string, string>,
    values: Record<string, string> = {},
  ): Promise<boolean> {
    try {
      await send(
        new PutCommand({
          TableName: tableName,
          Item: item(key, owner, ttlMs),
          ConditionExpression: condition,
          ExpressionAttributeNames: { ...names, '#exp': exp },
          ExpressionAttributeValues: { ...values, ':now': now() },
        }),
      )
      return true
    } catch (err) {
      if (isConditionFailure(err)) return false
      throw err
    }
  }

  return {
    get(key, opts) {
      return call('get', key, opts, async (k, send) => {
        const { Item } = await send<GetCommandOutput>(
          new GetCommand({ TableName: tableName, Key: { [pk]: k }, ConsistentRead: true }),
        )
        const value = Item?.[v]
        if (typeof value !== 'string' || Item?.[exp] === undefined) return undefined
        const expiresAt = epochMs(Item[exp])
        if (expiresAt === undefined) throw new UnreadableExpiry(Item[exp])
        // TTL deletion is lazy: an item past its exact expiry is a miss even while DynamoDB still has it.
        return expiresAt <= now() ? undefined : value
      })
    },
    set(key, value, ttlMs, opts) {
      return call('set', key, opts, async (k, send) => {
        if (!(ttlMs > 0)) {
          await send(new DeleteCommand({ TableName: tableName, Key: { [pk]: k } }))
          return
        }
        await send(new PutCommand({ TableName: tableName, Item: item(k, value, ttlMs) }))
      })
    },
    delete(key, expected, opts) {
      return call('delete', key, opts, async (k, send) => {
        if (expected === undefined) await send(new DeleteCommand({ TableName: tableName, Key: { [pk]: k } }))
        else await conditionalDelete(send, k, expected)
      })
    },
    acquireLease(key, owner, ttlMs, opts) {
      return call('acquireLease', key, opts, (k, send) =>
        // Reserved words (TTL, VALUE...) abound in DynamoDB; names always go through placeholders.
        putLeaseIf(send, k, owner, ttlMs, 'attribute_not_exists(#pk) OR #exp <= :now', { '#pk': pk }),
      )
    },
    releaseLease(key, owner, opts) {
      return call('releaseLease', key, opts, (k, send) => conditionalDelete(send, k, owner))
    },
    renewLease(key, owner, ttlMs, opts) {
      return call('renewLease', key, opts, (k, send) =>
        // Ours and not yet expired: an expired lease may be taken by another owner any moment.
        putLeaseIf(send, k, owner, ttlMs, '#v = :owner AND #exp > :now', { '#v': v }, { ':owner': owner }),
      )
    },
  }
}
