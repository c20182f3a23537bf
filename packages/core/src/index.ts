export {
  type BearerChallenge,
  bearerChallenge,
  IDEMPOTENT_METHODS,
  isIdempotentMethod,
  isTokenRejection,
} from './challenge'
export { DEFAULTS } from './defaults'
export type { EncryptionKeyInput } from './encryption'
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
export { createTokenProvider, type TokenProviderOptions } from './provider'
export type { RetryOptions } from './retry'
export { type Auth0Options, auth0 } from './sources/auth0'
export type { PrivateKeyInput } from './sources/client-assertion'
export {
  type AuthMethod,
  type ClientCredentialsOptions,
  clientCredentials,
} from './sources/client-credentials'
export { type CognitoOptions, cognito } from './sources/cognito'
export { type MemoryStoreOptions, memoryStore } from './stores/memory'
export type {
  GetTokenOptions,
  ProviderStats,
  SourceEvent,
  TokenEvent,
  TokenEventType,
  TokenProvider,
  TokenSet,
  TokenSource,
  TokenStore,
} from './types'
