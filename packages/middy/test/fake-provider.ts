// A hand-written TokenProvider that behaves like the real one where the middleware can tell:
// a memory tier that answers with an already-settled promise, one request in flight at a time,
// failures not cached. `requests` counts what would reach the token endpoint.
import type { ProviderStats, TokenProvider, TokenSet } from '@tokenstash/core'

export interface Deferred<T> {
  promise: Promise<T>
  resolve(value: T): void
  reject(err: unknown): void
}

export function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void
  let reject!: (err: unknown) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

export class FakeProvider implements TokenProvider {
  readonly key: string
  /** getToken calls. */
  calls = 0
  /** Simulated token-endpoint requests. */
  requests = 0
  /** Requests still waiting for `respond` (when holding). */
  readonly held: Array<Deferred<string>> = []
  private cached: string | undefined
  private inFlight: Promise<string> | undefined
  private holding = false
  private failures: unknown[] = []

  constructor(readonly name: string) {
    this.key = `fake:${name}`
  }

  /** Requests wait until the test settles them through `held`. */
  hold(): this {
    this.holding = true
    return this
  }

  release(): this {
    this.holding = false
    return this
  }

  /** The next requests fail with these errors, one each. */
  failWith(...errors: unknown[]): this {
    this.failures.push(...errors)
    return this
  }

  /** Drops the memory tier, as when a token reaches its refresh time. */
  expire(): void {
    this.cached = undefined
  }

  getToken(): Promise<string> {
    this.calls++
    if (this.cached !== undefined) return Promise.resolve(this.cached)
    if (this.inFlight) return this.inFlight
    this.requests++
    const n = this.requests
    let response: Promise<string>
    if (this.failures.length > 0) response = Promise.reject(this.failures.shift())
    else if (this.holding) {
      const d = deferred<string>()
      this.held.push(d)
      response = d.promise
    } else response = Promise.resolve(`${this.name}-token-${n}`)
    const p = response.then(
      (token) => {
        this.inFlight = undefined
        this.cached = token
        return token
      },
      (err) => {
        this.inFlight = undefined
        throw err
      },
    )
    this.inFlight = p
    return p
  }

  async getTokenSet(): Promise<TokenSet> {
    const accessToken = await this.getToken()
    return { accessToken, tokenType: 'Bearer', issuedAt: 0, expiresAt: 3_600_000 }
  }

  async invalidate(): Promise<void> {
    this.cached = undefined
  }

  stats(): ProviderStats {
    return { l1Hits: 0, l2Hits: 0, fetches: this.requests, fetchErrors: 0, leaseWaits: 0, storeErrors: 0 }
  }
}
