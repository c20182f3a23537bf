export { DEFAULTS } from './defaults'
export { REDACTED, redactError } from './redact'
export type { BearerTokenProvider, WithTokenOptions } from './types'
export { withToken } from './with-token'
