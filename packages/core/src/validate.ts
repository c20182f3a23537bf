import { ConfigError } from './errors'

// Options are checked once, when passed; messages name the option and what was expected.

/** A value as an error message shows it: short strings quoted, anything else by its kind. */
export function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)
  if (typeof value === 'function') return 'a function'
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'object') return 'an object'
  return String(value)
}

export function expectNumber(
  name: string,
  value: unknown,
  {
    min,
    max,
    minExclusive = false,
    integer = false,
  }: { min?: number; max?: number; minExclusive?: boolean; integer?: boolean },
): number {
  const ok =
    typeof value === 'number' &&
    Number.isFinite(value) &&
    (min === undefined || (minExclusive ? value > min : value >= min)) &&
    (max === undefined || value <= max) &&
    (!integer || Number.isInteger(value))
  if (!ok) {
    const lo = min === undefined ? '' : minExclusive ? `(${min}` : `[${min}`
    const range =
      min !== undefined && max !== undefined
        ? ` in ${lo}, ${max}]`
        : min !== undefined
          ? minExclusive
            ? ` > ${min}`
            : ` >= ${min}`
          : ''
    throw new ConfigError(
      `Expected \`${name}\` to be ${integer ? 'an integer' : 'a number'}${range}, got ${show(value)}`,
    )
  }
  return value as number
}

export function optionalNumber(
  name: string,
  value: unknown,
  fallback: number,
  range: Parameters<typeof expectNumber>[2],
): number {
  return value === undefined ? fallback : expectNumber(name, value, range)
}

export function expectString(name: string, value: unknown, what = 'a non-empty string'): string {
  if (typeof value !== 'string' || value.trim() === '')
    throw new ConfigError(`Expected \`${name}\` to be ${what}, got ${show(value)}`)
  return value
}

export function optionalString(name: string, value: unknown): string | undefined {
  return value === undefined ? undefined : expectString(name, value)
}

export function expectFunction<T>(name: string, value: unknown): T {
  if (typeof value !== 'function')
    throw new ConfigError(`Expected \`${name}\` to be a function, got ${show(value)}`)
  return value as T
}

export function expectOneOf<T extends string>(name: string, value: unknown, allowed: readonly T[]): T {
  if (!allowed.includes(value as T)) {
    throw new ConfigError(
      `Expected \`${name}\` to be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${show(value)}`,
    )
  }
  return value as T
}

/** A list of strings given as one string (space separated) or an array; sorted and deduplicated. */
export function stringList(name: string, value: unknown): string[] {
  if (value === undefined) return []
  const items = typeof value === 'string' ? value.split(/\s+/) : Array.isArray(value) ? value : null
  if (!items || items.some((s) => typeof s !== 'string')) {
    throw new ConfigError(`Expected \`${name}\` to be a string or an array of strings, got ${show(value)}`)
  }
  return [...new Set((items as string[]).map((s) => s.trim()).filter(Boolean))].sort()
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]', '::1'])

/** Token and discovery URLs must be https, except on loopback (tests, local emulators, sidecars). */
export function expectEndpointUrl(name: string, value: unknown): URL {
  const text = expectString(name, value, 'an absolute https URL')
  let url: URL
  try {
    url = new URL(text)
  } catch (cause) {
    throw new ConfigError(`Expected \`${name}\` to be an absolute https URL, got ${show(text)}`, { cause })
  }
  const loopback = LOOPBACK.has(url.hostname) || url.hostname.startsWith('127.')
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
    throw new ConfigError(
      `Expected \`${name}\` to be an https URL (http is allowed on loopback only), got ${show(text)}`,
    )
  }
  if (url.username || url.password) {
    throw new ConfigError(`Expected \`${name}\` to hold no credentials; pass them as clientId/clientSecret`)
  }
  return url
}
