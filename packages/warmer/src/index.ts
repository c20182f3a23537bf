export { createWarmer, type ProviderReport, type Warmer, type WarmReport } from './create-warmer'
export { DEFAULTS } from './defaults'
export { WarmError, type WarmErrorReason } from './errors'
export type { WarmerLogger, WarmerOptions } from './options'
