// The 401 rules live in core, shared with @tokenstash/fetch; re-exported here for existing imports.
export { type BearerChallenge, bearerChallenge, isTokenRejection } from '@tokenstash/core'
export { attachToken, type BearerTokenProvider } from './attach-token'
export { DEFAULTS } from './defaults'
export { REDACTED, type RequestSummary, redactError } from './redact'
export { isRetryable, retryAfterMs, retryDelay } from './retry'
export type { AttachTokenOptions, TokenstashRequestConfig } from './types'
