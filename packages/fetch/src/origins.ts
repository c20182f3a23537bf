import { bareOrigin, ConfigError } from '@tokenstash/core'

function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value)
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  return typeof value === 'object' ? 'an object' : String(value)
}

/** The origins allowed to receive the token, checked once when `withToken` is called. */
export function allowedOrigins(origins: unknown): ReadonlySet<string> {
  if (!Array.isArray(origins) || origins.length === 0) {
    throw new ConfigError(
      `Expected \`origins\` to be a non-empty array of origins like "https://api.example.com" (a fetch has no base URL to default to), got ${show(origins)}`,
    )
  }
  return new Set(
    origins.map((entry, i) => {
      const origin = bareOrigin(entry)
      // A path would suggest the token is scoped to it; it is not, so say so rather than ignore it.
      if (!origin) {
        throw new ConfigError(
          `Expected \`origins[${i}]\` to be an http(s) origin like "https://api.example.com", got ${show(entry)}`,
        )
      }
      return origin
    }),
  )
}
