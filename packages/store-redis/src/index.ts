export type { IoRedisLike, NodeRedisLike } from './client'
export {
  REDIS_STORE_DEFAULTS,
  type RedisStoreOptions,
  type RedisTokenStore,
  redisStore,
} from './redis-store'
