// Fleets of provider instances on the servers of test/support/servers.ts, as many Lambda
// containers or pods would be: one namespace, one clock, a store client each; and the checks the
// fault tests make of them (every caller served, the store used again, nothing leaked).
import { randomBytes } from 'node:crypto'
import {
  type ClientCredentialsOptions,
  clientCredentials,
  createTokenProvider,
  type TokenEvent,
  type TokenProvider,
  type TokenProviderOptions,
  type TokenSource,
  type TokenStore,
} from '@tokenstash/core'
import { dynamoDbStore } from '@tokenstash/store-dynamodb'
import { redisStore } from '@tokenstash/store-redis'
import type { Issuer } from './issuer'
import { randomKey } from './proxy-client'
import type { Servers } from './servers'

/** Provider instances sharing one namespace, key and clock, as the containers of one fleet; see {@link fleetTimeline}. */
export interface FleetTimeline {
  /** Every event of every instance, in order. */
  readonly events: TokenEvent[]
  readonly namespace: string
  readonly encryptionKey: string
  /** The fleet's clock: `Date.now()` plus what {@link FleetTimeline.skipBackOff} added. */
  now(): number
  /** Moves the fleet's clock 6 s on, past DEFAULTS.storeRetryAfterMs (5 s): instances try the store again. */
  skipBackOff(): void
  /** A client_credentials source for the issuer's basic client, on the fleet's clock. */
  source(): TokenSource
  /** One instance on `store`, reporting to `events`; `options` override (e.g. `source`, `storeTimeoutMs`). */
  instance(store: TokenStore, options?: Partial<TokenProviderOptions>): TokenProvider
  /** Fails the test when an event holds the client secret or one of `tokens`. */
  expectNoLeak(tokens: string[]): void
}

/**
 * A fleet of providers on `issuer`'s basic client, in a fresh namespace `<prefix>-<random hex>`
 * with a fresh encryption key (or `encryptionKey`), on a clock the test may move past the store
 * back-off instead of sleeping.
 *
 * @example
 * ```ts
 * const timeline = fleetTimeline(servers.issuer, 'outage')
 * const providers = clients.map((client) => timeline.instance(redisStore({ client })))
 * timeline.skipBackOff()
 * expect(timeline.events.some((e) => e.type === 'store-recovered')).toBe(true)
 * ```
 */
export function fleetTimeline(issuer: Issuer, prefix: string, encryptionKey = randomKey()): FleetTimeline {
  let skew = 0
  const events: TokenEvent[] = []
  const namespace = `${prefix}-${randomBytes(4).toString('hex')}`
  const now = () => Date.now() + skew
  const { clientSecret } = issuer.clients.basic
  const source = () => issuerSource(issuer, { now })
  return {
    events,
    namespace,
    encryptionKey,
    now,
    skipBackOff() {
      skew += 6_000
    },
    source,
    expectNoLeak(tokens) {
      const text = JSON.stringify(events)
      for (const s of [clientSecret, ...tokens]) expect(text).not.toContain(s)
    },
    instance: (store, options = {}) =>
      createTokenProvider({
        source: source(),
        store,
        encryptionKey,
        namespace,
        now,
        onEvent: (e) => events.push(e),
        ...options,
      }),
  }
}

/**
 * A client_credentials source for `issuer`'s basic client (its token endpoint, id and secret), with
 * `options` on top, e.g. `scope` or `bodyFormat`.
 *
 * @example
 * ```ts
 * const provider = createTokenProvider({ source: issuerSource(servers.issuer, { scope: ['read'] }) })
 * ```
 */
export function issuerSource(issuer: Issuer, options: Partial<ClientCredentialsOptions> = {}): TokenSource {
  const { clientId, clientSecret } = issuer.clients.basic
  return clientCredentials({ tokenEndpoint: issuer.tokenEndpoint, clientId, clientSecret, ...options })
}

/** A store on a client of its own, and how to close that client (e.g. after each test). */
export interface StoreConnection {
  store: TokenStore
  close(): void
}

/**
 * A store on a new client of one of `servers`' stores: `redisStore` on `redis` or `redisCluster`,
 * `dynamoDbStore` on `dynamo`'s `tableName`, as a container with its own connection has.
 *
 * @example
 * ```ts
 * const { store, close } = connectStore(servers, 'dynamo', 'fleet-tokens')
 * ```
 */
export function connectStore(
  servers: Pick<Servers, 'redisClient' | 'clusterClient' | 'dynamoClient'>,
  kind: 'redis' | 'redisCluster' | 'dynamo',
  tableName = 'tokens',
): StoreConnection {
  if (kind === 'dynamo') {
    const client = servers.dynamoClient()
    return { store: dynamoDbStore({ client, tableName }), close: () => client.destroy() }
  }
  const client = kind === 'redis' ? servers.redisClient() : servers.clusterClient()
  return { store: redisStore({ client }), close: () => client.disconnect() }
}

/**
 * Checks that `newcomer`, a cold instance, gets `token` from the store: no token request at
 * `issuer`, one store hit, no fetch. The store works again after a fault when this passes.
 *
 * @example
 * ```ts
 * await expectServedFromStore(issuer, timeline.instance(store), fresh)
 * ```
 */
export async function expectServedFromStore(
  issuer: Issuer,
  newcomer: TokenProvider,
  token: string,
): Promise<void> {
  const before = await issuer.tokenRequests()
  expect(await newcomer.getToken()).toBe(token)
  expect(await issuer.tokenRequests()).toBe(before)
  expect(newcomer.stats()).toMatchObject({ l2Hits: 1, fetches: 0 })
}

/**
 * Asks every instance for a token at once, as a cold burst, and checks that every call succeeded
 * and that the burst cost `issuer` between one token request and one per instance (at most one
 * fetch each, whatever the store did). Returns the tokens, in order, and the request count.
 *
 * @example
 * ```ts
 * const { tokens, requests } = await expectEveryCallerServed(issuer, providers)
 * ```
 */
export async function expectEveryCallerServed(
  issuer: Issuer,
  providers: TokenProvider[],
): Promise<{ tokens: string[]; requests: number }> {
  const results = await Promise.allSettled(providers.map((p) => p.getToken()))
  expect(results.filter((r) => r.status === 'rejected')).toEqual([])
  const requests = await issuer.tokenRequests()
  expect(requests).toBeGreaterThanOrEqual(1)
  expect(requests).toBeLessThanOrEqual(providers.length)
  return { tokens: results.map((r) => (r as PromiseFulfilledResult<string>).value), requests }
}
