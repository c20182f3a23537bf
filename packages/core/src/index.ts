export {
  type BearerChallenge,
  bearerChallenge,
  IDEMPOTENT_METHODS,
  isIdempotentMethod,
  isTokenRejection,
  replayOn401,
} from './challenge'
export { DEFAULTS } from './defaults'
export { EVENT_CHANNEL } from './diagnostics'
export type { EncryptionKeyInput } from './encryption'
export {
  ConfigError,
  DiscoveryError,
  type ErrorCode,
  RateLimitedError,
  StoreEntryUnreadableError,
  StoreError,
  TokenEndpointError,
  type TokenEndpointErrorDetails,
  TokenRejectedError,
  TokenResponseError,
  TokenstashError,
} from './errors'
// For the packages built on core: every factory refuses unknown options the same way.
export { nearestName, refuseUnknownOptions } from './known-options'
// For packages that run many providers (the proxy): one logger, one line per episode for all of them.
export { EventLogger, type Logger, loggerOption } from './logger'
// For the adapters (axios, fetch): how `origins` is checked and read, and one debug line per origin that got no token.
export { allowedOriginSet, bareOrigin, type DebugLogger, withheldTokenLog } from './origins'
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
export {
  type CognitoGetClientTokenOptions,
  cognitoGetClientToken,
} from './sources/cognito-get-client-token'
// For token sources outside core (the proxy forwards requests it did not build): the same
// refusal mapping and 2xx validation as the built-in sources, so they share retry and cooldown.
export { type EndpointErrorContext, endpointError } from './sources/endpoint-error'
export type { QuotaReading } from './sources/quota'
export type { SecretResolver } from './sources/secret'
export { parseTokenResponse, type TokenResponseContext } from './sources/token-response'
export { type MemoryStoreOptions, memoryStore } from './stores/memory'
export type {
  EnsureFreshOptions,
  EnsureFreshResult,
  GetTokenOptions,
  HttpSourceOptions,
  ProviderStats,
  RenewingTokenStore,
  SourceEvent,
  StoreCallOptions,
  TokenEvent,
  TokenEventType,
  TokenProvider,
  TokenSet,
  TokenSource,
  TokenStore,
  UnreadableReason,
} from './types'
