export type { IoRedisLike, NodeRedisLike } from './client'
export { REDIS_STORE_DEFAULTS, type RedisStoreOptions, redisStore } from './redis-store'
