export { DEFAULTS } from './defaults'
export {
  ConfigError,
  DiscoveryError,
  type ErrorCode,
  RateLimitedError,
  StoreError,
  TokenEndpointError,
  type TokenEndpointErrorDetails,
  TokenRejectedError,
  TokenResponseError,
  TokenstashError,
} from './errors'
export { type MemoryStoreOptions, memoryStore } from './stores/memory'
export type {
  GetTokenOptions,
  ProviderStats,
  TokenEvent,
  TokenEventType,
  TokenProvider,
  TokenSet,
  TokenSource,
  TokenStore,
} from './types'
