import { TokenEndpointError } from '../errors'

/**
 * What `clientSecret` and `privateKey` accept besides a value: a function resolving it, e.g. from
 * AWS Secrets Manager. It is called at the first token request (never at construction, never on
 * a cached token), its value kept in memory only, and called once more when the endpoint answers
 * `invalid_client` (the secret was rotated), after which the request is sent again once.
 *
 * @example
 * ```ts
 * import { getSecret } from '@aws-lambda-powertools/parameters/secrets'
 *
 * const clientSecret: SecretResolver<string> = async () => (await getSecret('orders/client-secret', { forceFetch: true }))!
 * ```
 */
export type SecretResolver<T> = () => Promise<T>

/**
 * A credential given as a value or as a {@link SecretResolver}: resolved once, shared by concurrent
 * callers, re-read on demand (`rotate`). A failed read is not kept; the next request reads again.
 */
export class LazySecret<T> {
  readonly #name: string
  readonly #resolver?: SecretResolver<unknown>
  readonly #check: (value: unknown) => T
  #value?: T
  #reading?: Promise<T>

  constructor(name: string, input: unknown, check: (value: unknown) => T) {
    this.#name = name
    this.#check = check
    if (typeof input === 'function') this.#resolver = input as SecretResolver<unknown>
    else this.#value = check(input)
  }

  /** Whether it comes from a resolver (and so may change after an `invalid_client`). */
  get rotates(): boolean {
    return this.#resolver !== undefined
  }

  get(endpoint: string): T | Promise<T> {
    return this.#value ?? this.#read(endpoint)
  }

  /** Reads the resolver again (once for all concurrent callers) and keeps the new value. */
  rotate(endpoint: string): Promise<T> {
    if (!this.#resolver) return Promise.resolve(this.#value!)
    this.#value = undefined
    return this.#read(endpoint)
  }

  #read(endpoint: string): Promise<T> {
    if (this.#reading) return this.#reading
    const reading = (async () => {
      let raw: unknown
      try {
        raw = await this.#resolver!()
      } catch (cause) {
        // Secrets Manager throttled or unreachable: worth another try, like a network error. The
        // resolver's own message is left out: it is the user's code, and may quote what it read.
        throw new TokenEndpointError(
          `Reading \`${this.#name}\` through its resolver failed (${(cause as Error)?.name ?? 'Error'}); the token request was not sent. Trying again later can succeed.`,
          { endpoint, retryable: true, cause },
        )
      }
      const value = this.#check(raw)
      this.#value = value
      return value
    })()
    this.#reading = reading
    reading
      .then(
        () => undefined,
        () => undefined,
      )
      .finally(() => {
        if (this.#reading === reading) this.#reading = undefined
      })
    return reading
  }
}
