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
