import { ConfigError } from '@tokenstash/core'
import { type LuaScript, readFromPrimary } from './scripts'

/**
 * The few commands the store needs, over whichever client the user passed. Both ioredis
 * (`Redis`, `Cluster`) and node-redis (`createClient`, `createCluster`, v4 and later) route a
 * command with one key to the node that owns its slot, so cluster mode needs nothing more here.
 */
export interface RedisCommands {
  readonly kind: 'ioredis' | 'node-redis'
  get(key: string): Promise<string | null>
  /** SET key value PX ttl */
  set(key: string, value: string, ttlMs: number): Promise<void>
  /** SET key value PX ttl NX; true when the key was set. */
  setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean>
  del(key: string): Promise<void>
  /** EVALSHA with one key and its arguments, falling back to EVAL once per server that lacks the script. */
  run(script: LuaScript, key: string, ...args: string[]): Promise<unknown>
}

/**
 * What an ioredis `Redis` or `Cluster` looks like to the store (the methods used, no more).
 *
 * @example
 * ```ts
 * const client: IoRedisLike = new Redis.Cluster([{ host: 'clustercfg.example.cache.amazonaws.com', port: 6379 }])
 * ```
 */
export interface IoRedisLike {
  get(key: string): Promise<string | null>
  set(key: string, value: string, ...args: (string | number)[]): Promise<unknown>
  del(...keys: string[]): Promise<number>
  evalsha(sha1: string, numKeys: number, ...args: string[]): Promise<unknown>
  eval(script: string, numKeys: number, ...args: string[]): Promise<unknown>
}

/**
 * What a node-redis v4+ client or cluster looks like to the store (the methods used, no more).
 *
 * @example
 * ```ts
 * const client = await createClient({ url: process.env.REDIS_URL }).connect()
 * const store = redisStore({ client })
 * ```
 */
export interface NodeRedisLike {
  get(key: string): Promise<string | null | unknown>
  set(key: string, value: string, options?: { PX?: number; NX?: boolean }): Promise<unknown>
  del(key: string | string[]): Promise<unknown>
  evalSha(sha1: string, options?: { keys?: string[]; arguments?: string[] }): Promise<unknown>
  eval(script: string, options?: { keys?: string[]; arguments?: string[] }): Promise<unknown>
}

// The server answers NOSCRIPT after a restart or failover flushed its script cache.
function isNoScript(err: unknown): boolean {
  return err instanceof Error && err.message.startsWith('NOSCRIPT')
}

function isFunction(value: unknown, name: string): boolean {
  return typeof (value as Record<string, unknown> | null)?.[name] === 'function'
}

function fromIoRedis(client: IoRedisLike): RedisCommands {
  return {
    kind: 'ioredis',
    get: (key) => client.get(key),
    async set(key, value, ttlMs) {
      await client.set(key, value, 'PX', ttlMs)
    },
    async setIfAbsent(key, value, ttlMs) {
      return (await client.set(key, value, 'PX', ttlMs, 'NX')) === 'OK'
    },
    async del(key) {
      await client.del(key)
    },
    async run(script, key, ...args) {
      try {
        return await client.evalsha(script.sha1, 1, key, ...args)
      } catch (err) {
        if (!isNoScript(err)) throw err
        return client.eval(script.body, 1, key, ...args)
      }
    },
  }
}

function fromNodeRedis(client: NodeRedisLike): RedisCommands {
  return {
    kind: 'node-redis',
    async get(key) {
      const value = await client.get(key)
      // With RESP3 or a Buffer type mapping a reply may not be a string; it is then not ours.
      return typeof value === 'string' ? value : null
    },
    async set(key, value, ttlMs) {
      await client.set(key, value, { PX: ttlMs })
    },
    async setIfAbsent(key, value, ttlMs) {
      return (await client.set(key, value, { PX: ttlMs, NX: true })) === 'OK'
    },
    async del(key) {
      await client.del(key)
    },
    async run(script, key, ...args) {
      const options = { keys: [key], arguments: args }
      try {
        return await client.evalSha(script.sha1, options)
      } catch (err) {
        if (!isNoScript(err)) throw err
        return client.eval(script.body, options)
      }
    },
  }
}

/**
 * Whether the client sends read-only commands to replicas: an ioredis Cluster with `scaleReads`
 * other than 'master', or a node-redis cluster with `useReplicas: true`.
 */
export function readsFromReplicas(client: unknown): boolean {
  const c = client as {
    isCluster?: unknown
    options?: { scaleReads?: unknown }
    _options?: { useReplicas?: unknown }
  } | null
  if (c?.isCluster === true) {
    const scaleReads = c.options?.scaleReads
    return scaleReads !== undefined && scaleReads !== 'master'
  }
  return c?._options?.useReplicas === true
}

/** Reads go through a script to the primary, so a write is seen by the next read (see readFromPrimary). */
function withPrimaryReads(commands: RedisCommands): RedisCommands {
  return {
    ...commands,
    async get(key) {
      const value = await commands.run(readFromPrimary, key, '')
      return typeof value === 'string' ? value : null
    },
  }
}

/**
 * Tells ioredis from node-redis by shape, not by `instanceof`: the peer dependency is the user's,
 * possibly another copy or version than ours. ioredis spells `evalsha`, node-redis `evalSha`.
 */
export function commandsFor(client: unknown): RedisCommands {
  const commands = shapeOf(client)
  return readsFromReplicas(client) ? withPrimaryReads(commands) : commands
}

function shapeOf(client: unknown): RedisCommands {
  const has = (names: string[]) => names.every((name) => isFunction(client, name))
  if (has(['get', 'set', 'del', 'eval', 'evalsha'])) return fromIoRedis(client as IoRedisLike)
  if (has(['get', 'set', 'del', 'eval', 'evalSha'])) return fromNodeRedis(client as NodeRedisLike)
  throw new ConfigError(
    'Expected `client` to be an ioredis Redis or Cluster, or a node-redis (v4 or later) client or cluster, ' +
      `got ${client === null ? 'null' : Array.isArray(client) ? 'an array' : typeof client}`,
  )
}
