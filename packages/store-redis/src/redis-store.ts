import {
  ConfigError,
  type RenewingTokenStore,
  refuseUnknownOptions,
  type StoreCallOptions,
  StoreError,
  type TokenStore,
} from '@tokenstash/core'
import { commandsFor, type IoRedisLike, type NodeRedisLike } from './client'
import { firstConnection } from './connecting'
import { redisKey } from './keys'
import { compareAndDelete, renewIfOwner } from './scripts'

/**
 * Options of {@link redisStore}.
 *
 * @example
 * ```ts
 * const options: RedisStoreOptions = { client: new Redis(process.env.REDIS_URL!), prefix: 'orders-api:' }
 * ```
 */
export interface RedisStoreOptions {
  /**
   * A connected client you own: ioredis `Redis` or `Cluster`, or a node-redis v4+ client or
   * cluster. TLS, AUTH and IAM authentication are configured on it; the store never creates or
   * quits a client.
   */
  client: IoRedisLike | NodeRedisLike | object
  /** Put before every key. Default `'tokenstash:'`. Must not hold `{` or `}` (the store owns the hash tag). */
  prefix?: string
  /**
   * How long a call waits for a client that has not finished its first connection (a call made
   * at init, before the socket is up), when the caller's signal does not end the wait earlier.
   * Default 5,000 ms. The provider passes a signal bounded by `storeTimeoutMs`.
   */
  connectWaitMs?: number
}

/**
 * The store {@link redisStore} returns: a {@link TokenStore} whose methods take
 * {@link StoreCallOptions}, with `renewLease`. The `signal` ends the wait for the client's first
 * connection and the wait for the reply (a command already sent still runs on the server).
 *
 * @example
 * ```ts
 * const store: RedisTokenStore = redisStore({ client })
 * await store.renewLease('ns:ab12#lease', owner, 10_000)
 * ```
 */
export type RedisTokenStore = RenewingTokenStore

/**
 * The defaults of {@link redisStore}.
 *
 * @example
 * ```ts
 * redisStore({ client, prefix: `${REDIS_STORE_DEFAULTS.prefix}orders:` })
 * ```
 */
export const REDIS_STORE_DEFAULTS = Object.freeze({ prefix: 'tokenstash:', connectWaitMs: 5_000 })

// Only a short, value-free reason goes into messages: a reply error's first word (WRONGTYPE,
// NOAUTH, READONLY, CLUSTERDOWN...), a socket error code, or the error's class name.
function reason(err: unknown): string {
  if (err && typeof err === 'object') {
    const code = (err as { code?: unknown }).code
    if (typeof code === 'string' && /^[A-Z][A-Z0-9_]{1,40}$/.test(code)) return code
    const message = (err as { message?: unknown }).message
    const head = typeof message === 'string' ? /^([A-Z][A-Z0-9_]{1,40})\b/.exec(message)?.[1] : undefined
    if (head) return head
    const name = (err as { name?: unknown }).name
    if (typeof name === 'string' && /^[A-Za-z][A-Za-z0-9_]{0,60}$/.test(name)) return name
  }
  return 'unknown error'
}

// What a client says when a command fails because the connection is down, not why it is down
// (ioredis: MaxRetriesPerRequestError, "Connection is closed."; node-redis: ClientClosedError).
const GENERIC = new Set(['Error', 'MaxRetriesPerRequestError', 'ClientClosedError', 'unknown error'])

/**
 * The last connection failure the client reported (`ECONNREFUSED`, `NOAUTH`, `WRONGPASS`...), read
 * from its `error` events and forgotten once it is `ready`: the reason a command that failed with a
 * generic error really failed. Listening also keeps node-redis from crashing the process on one.
 */
function connectionErrors(client: object): () => string | undefined {
  const emitter = client as { on?: (event: string, fn: (...args: unknown[]) => void) => unknown }
  if (typeof emitter.on !== 'function') return () => undefined
  // One pair of listeners per client, however many stores share it.
  const known = listening.get(client)
  if (known) return known
  let last: string | undefined
  const read = () => last
  listening.set(client, read)
  emitter.on.call(client, 'error', (err: unknown) => {
    const why = reason(err)
    if (!GENERIC.has(why)) last = why
  })
  emitter.on.call(client, 'ready', () => {
    last = undefined
  })
  return read
}

const listening = new WeakMap<object, () => string | undefined>()

// ioredis hangs the command with its arguments (values included) on reply errors; the error is
// kept as `cause` for debugging, so the arguments after the key are blanked before anyone logs it.
function redact(err: unknown): unknown {
  const command = (err as { command?: { args?: unknown } } | null)?.command
  if (command && Array.isArray(command.args)) {
    command.args = command.args.map((arg, i) => (i === 0 ? arg : '[redacted]'))
  }
  return err
}

function checkKey(operation: string, key: unknown): string {
  if (typeof key !== 'string' || key === '' || key.startsWith('#')) {
    throw new StoreError(
      `Redis ${operation} was called with a key that is not a non-empty string with a base before '#'`,
      {
        operation,
      },
    )
  }
  return key
}

/** `promise`, or the signal's reason once it aborts first. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise
  return new Promise<T>((resolve, reject) => {
    const aborted = () => reject(signal.reason)
    signal.addEventListener('abort', aborted, { once: true })
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', aborted))
  })
}

// PX takes whole milliseconds > 0; a fraction is rounded up so an entry never lives shorter than asked.
const px = (ttlMs: number) => Math.max(1, Math.ceil(ttlMs))

/**
 * A {@link TokenStore} on Redis, Valkey or ElastiCache, single node or cluster mode, through an
 * ioredis or node-redis client you pass in. Writes use `SET PX`, leases `SET NX PX`, and
 * owner-only release, renewal and compare-and-delete Lua scripts (EVALSHA); it never runs KEYS or SCAN.
 * A call made while the client is still making its first connection waits for it (`connectWaitMs`,
 * or the caller's signal), so `enableOfflineQueue: false` does not fail the calls made at init.
 * Keys are `${prefix}{${base}}${suffix}` so a provider's token, lease and cooldown share a slot.
 * Failures reject with a {@link StoreError} holding the client's error as `cause`.
 *
 * @example
 * ```ts
 * import Redis from 'ioredis'
 * import { createTokenProvider, clientCredentials } from '@tokenstash/core'
 * import { redisStore } from '@tokenstash/store-redis'
 *
 * const store = redisStore({ client: new Redis(process.env.REDIS_URL!) })
 * const provider = createTokenProvider({ source: clientCredentials({ tokenEndpoint, clientId, clientSecret }), store, encryptionKey })
 * ```
 */
export function redisStore(options: RedisStoreOptions): RedisTokenStore {
  if (options === null || typeof options !== 'object') {
    throw new ConfigError(
      `Expected redisStore options to be an object with a \`client\`, got ${options === null ? 'null' : typeof options}`,
    )
  }
  refuseUnknownOptions('redisStore', options, ['client', 'prefix', 'connectWaitMs'])
  const redis = commandsFor(options.client)
  const lastConnectionError = connectionErrors(options.client as object)
  const prefix = options.prefix ?? REDIS_STORE_DEFAULTS.prefix
  if (typeof prefix !== 'string' || /[{}]/.test(prefix)) {
    throw new ConfigError(
      `Expected \`prefix\` to be a string without '{' or '}' (the store adds the hash tag itself), got ${typeof prefix === 'string' ? JSON.stringify(prefix) : typeof prefix}`,
    )
  }

  const connectWaitMs = options.connectWaitMs ?? REDIS_STORE_DEFAULTS.connectWaitMs
  if (typeof connectWaitMs !== 'number' || !(connectWaitMs >= 0) || !Number.isFinite(connectWaitMs)) {
    throw new ConfigError(
      `Expected \`connectWaitMs\` to be a finite number of milliseconds >= 0, got ${typeof connectWaitMs === 'number' ? connectWaitMs : typeof connectWaitMs}`,
    )
  }
  const connection = firstConnection(options.client, connectWaitMs)

  async function call<T>(
    operation: string,
    key: unknown,
    callOptions: StoreCallOptions | undefined,
    fn: (redisKey: string) => Promise<T>,
  ): Promise<T> {
    const full = redisKey(prefix, checkKey(operation, key))
    const signal = callOptions?.signal
    try {
      signal?.throwIfAborted()
      await connection.ready(signal)
      signal?.throwIfAborted()
      return await untilAborted(fn(full), signal)
    } catch (err) {
      let why = reason(err)
      if (GENERIC.has(why)) why = lastConnectionError() ?? why
      throw new StoreError(
        `Redis ${operation} failed (${why}); check that Redis is reachable and the client is connected`,
        {
          operation,
          cause: redact(err),
        },
      )
    }
  }

  return {
    get(key, opts) {
      return call('get', key, opts, async (k) => (await redis.get(k)) ?? undefined)
    },
    set(key, value, ttlMs, opts) {
      return call('set', key, opts, async (k) => {
        // A ttl that is already over means "gone", as in memoryStore; Redis would reject PX 0.
        if (!(ttlMs > 0)) await redis.del(k)
        else await redis.set(k, value, px(ttlMs))
      })
    },
    delete(key, expected, opts) {
      return call('delete', key, opts, async (k) => {
        if (expected === undefined) await redis.del(k)
        else await redis.run(compareAndDelete, k, expected)
      })
    },
    acquireLease(key, owner, ttlMs, opts) {
      return call('acquireLease', key, opts, (k) => redis.setIfAbsent(k, owner, px(ttlMs)))
    },
    releaseLease(key, owner, opts) {
      return call('releaseLease', key, opts, async (k) => {
        await redis.run(compareAndDelete, k, owner)
      })
    },
    renewLease(key, owner, ttlMs, opts) {
      return call('renewLease', key, opts, async (k) => {
        return Number(await redis.run(renewIfOwner, k, owner, String(px(ttlMs)))) === 1
      })
    },
  }
}
