export { PROXY_DEFAULTS } from './defaults'
export type { LambdaHttpEvent, LambdaHttpResult } from './lambda'
export { createTokenProxy, type ProxyListener, type TokenProxy, type TokenProxyOptions } from './proxy'
