export { PROXY_DEFAULTS } from './defaults'
export type { LambdaHttpEvent, LambdaHttpResult } from './lambda'
export {
  type CloseOptions,
  createTokenProxy,
  type ProxyListener,
  type TokenProxy,
  type TokenProxyOptions,
} from './proxy'
