export { DEFAULTS } from './defaults'
export { TokenUnavailableError, type TokenUnavailableReason } from './errors'
export { type M2mTokenContext, type M2mTokenInternal, type M2mTokenOptions, m2mToken } from './m2m-token'
