import { type ProviderStats, type TokenProvider, TokenRejectedError } from '@tokenstash/core'

export interface FakeProvider extends TokenProvider {
  /** Tokens handed out by "fetches", in order. */
  readonly issued: string[]
  readonly calls: {
    getToken: number
    invalidate: Array<string | undefined>
    signals: Array<AbortSignal | undefined>
  }
  /** Make the next fetch fail with this error. */
  failNextFetch(error: Error): void
  /** Make invalidate throw the loop guard error, as the real provider does for a replacement rejected again. */
  rejectReplacements(): void
}

/**
 * A small TokenProvider that behaves like the real one where the interceptor can tell: a cached
 * token, compare-and-delete `invalidate`, counted fetches. Each fetch hands out `t<n>-<padding>` so
 * that tokens are long enough to be recognised by redaction.
 */
export function fakeProvider(options: { delayMs?: number } = {}): FakeProvider {
  let current: string | undefined
  let nextError: Error | undefined
  let guard = false
  let lastWasReplacement = false
  const issued: string[] = []
  const calls: FakeProvider['calls'] = { getToken: 0, invalidate: [], signals: [] }
  let fetches = 0
  let fetchErrors = 0
  return {
    key: 'default:fake',
    issued,
    calls,
    failNextFetch(error) {
      nextError = error
    },
    rejectReplacements() {
      guard = true
    },
    async getToken(opts) {
      calls.getToken++
      calls.signals.push(opts?.signal)
      if (current) return current
      fetches++
      if (options.delayMs) await new Promise((r) => setTimeout(r, options.delayMs))
      if (nextError) {
        const error = nextError
        nextError = undefined
        fetchErrors++
        throw error
      }
      current = `t${fetches}-${'x'.repeat(24)}`
      issued.push(current)
      return current
    },
    async getTokenSet(opts) {
      const accessToken = await this.getToken(opts)
      return { accessToken, tokenType: 'Bearer', issuedAt: 0, expiresAt: 3_600_000 }
    },
    async invalidate(rejected) {
      calls.invalidate.push(rejected)
      if (rejected !== undefined && rejected !== current) return
      if (guard && lastWasReplacement)
        throw new TokenRejectedError('A replacement token was rejected as well')
      current = undefined
      lastWasReplacement = true
    },
    stats(): ProviderStats {
      return { l1Hits: 0, l2Hits: 0, fetches, fetchErrors, leaseWaits: 0, storeErrors: 0 }
    },
  }
}
