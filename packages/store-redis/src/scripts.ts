import { createHash } from 'node:crypto'

/** A Lua script sent by SHA1 (EVALSHA) and by body (EVAL) only when the server has not seen it yet. */
export interface LuaScript {
  readonly body: string
  readonly sha1: string
}

function script(body: string): LuaScript {
  return { body, sha1: createHash('sha1').update(body).digest('hex') }
}

/**
 * Deletes KEYS[1] only while it still holds ARGV[1]. One script serves both compare-and-delete
 * (`invalidate(token)`) and owner-only lease release: GET and DEL must be one atomic step, or a
 * lease taken by someone else between them would be dropped.
 */
export const compareAndDelete = script(
  "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0",
)

/**
 * GET through a script. Cluster clients that read from replicas (ioredis `scaleReads: 'slave'` or
 * `'all'`, node-redis `useReplicas: true`) send read-only commands to a replica, which may not have
 * the token just written or may still hold one just deleted; EVALSHA is a write command to both
 * clients, so it reaches the slot's primary.
 */
export const readFromPrimary = script("return redis.call('GET', KEYS[1])")

/**
 * Extends KEYS[1]'s ttl to ARGV[2] ms only while it still holds ARGV[1]: a lease holder renews its
 * own lease, never one that expired and was taken by another owner meanwhile. Answers 1 when renewed.
 */
export const renewIfOwner = script(
  "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0",
)
