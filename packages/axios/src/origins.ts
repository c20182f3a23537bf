import { allowedOriginSet, ConfigError } from '@tokenstash/core'

// Same test axios uses: `scheme://` or protocol-relative `//`.
const ABSOLUTE = /^([a-z][a-z\d+\-.]*:)?\/\//i

function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value)
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  return typeof value === 'object' ? 'an object' : String(value)
}

function httpOrigin(text: string): string | undefined {
  try {
    const url = new URL(text)
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.origin : undefined
  } catch {
    return undefined
  }
}

/**
 * The set of origins allowed to receive the token: `origins` when given, else the origin of
 * `baseURL`. Checked once, when `attachToken` is called.
 */
export function allowedOrigins(origins: unknown, baseURL: unknown): ReadonlySet<string> {
  if (origins === undefined) {
    const origin = typeof baseURL === 'string' ? httpOrigin(baseURL) : undefined
    if (!origin) {
      throw new ConfigError(
        'Expected `origins` (e.g. ["https://api.example.com"]) because the axios instance has no absolute http(s) `baseURL` ' +
          `to take the allowed origin from, got baseURL ${show(baseURL)}`,
      )
    }
    return new Set([origin])
  }
  return allowedOriginSet(origins)
}

/**
 * The origin a request goes to, resolved the way axios resolves it (baseURL + url, unless url is
 * absolute and `allowAbsoluteUrls` is not false). Undefined when it cannot be told, and then no token is sent.
 */
export function requestOrigin(config: {
  url?: string
  baseURL?: string
  allowAbsoluteUrls?: boolean
}): string | undefined {
  const url = typeof config.url === 'string' ? config.url : ''
  const base = typeof config.baseURL === 'string' ? config.baseURL : undefined
  let full = url
  if (base && (!ABSOLUTE.test(url) || config.allowAbsoluteUrls === false)) {
    full = url ? `${base.replace(/\/+$/, '')}/${url.replace(/^\/+/, '')}` : base
  }
  return httpOrigin(full)
}
