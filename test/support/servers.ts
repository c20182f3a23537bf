/**
 * The servers a test file, an example or a benchmark runs against, started together and stopped
 * together, with the store clients made on them.
 *
 * In a jest file, `useServers` registers the `beforeAll` that restricts the network to loopback
 * (nock) and starts what the spec asks for in parallel, and the `afterAll` that closes every
 * client made through it, runs the `onStop` callbacks, stops every server and lets the network out
 * again. Its fields are read inside hooks and tests; reading one before `beforeAll` ran, or one the
 * spec did not ask for, throws an error that says so. Hooks of the file declared after `useServers`
 * run after its own (jest runs `beforeAll` and `afterAll` in the order declared): an `afterAll` of
 * the file finds the servers stopped but still readable; to close something before they stop, give
 * it to `servers.onStop`. `useServers({ resetEach: true })` also clears the issuer's counts and
 * armed failures, the API's log and the sinks before each test; `useServers({})` starts nothing and
 * only keeps the network on loopback.
 *
 * @example
 * ```ts
 * const servers = useServers({
 *   issuer: { accessTokenTtlSeconds: 300 },
 *   redis: true,
 *   dynamo: { tables: ['tokens'] },
 *   api: { requiredScopes: { '/admin': 'admin' } },   // verifies tokens of `issuer`
 *   tcpProxy: 'redis',                                 // a fault proxy in front of `redis`
 * })
 *
 * it('should share one token', async () => {
 *   const client = servers.redisClient()              // disconnected in afterAll
 *   const store = redisStore({ client })
 *   const { clientId, clientSecret } = servers.issuer.clients.basic
 *   // ...
 *   expect(await servers.issuer.tokenRequests()).toBe(1)
 * })
 * ```
 *
 * Outside jest (benchmarks, the examples' local runs), `startServers` does the same without hooks
 * or nock and returns the same fields with `stop()`:
 *
 * ```ts
 * const servers = await startServers({ issuer: { accessTokenTtlSeconds: 3_600 }, redis: true })
 * try { ... } finally { await servers.stop() }
 * ```
 */
import type { DynamoDBClient, DynamoDBClientConfig } from '@aws-sdk/client-dynamodb'
import Redis, { Cluster, type ClusterOptions, type RedisOptions } from 'ioredis'
import { type DynamoServer, startDynamo } from './dynamodb'
import { type FakeIdp, type FakeIdpOptions, startFakeIdp } from './fake-idp'
import { type Issuer, type IssuerOptions, startIssuer } from './issuer'
import {
  type RedisCluster,
  type RedisClusterOptions,
  type RedisServer,
  startRedis,
  startRedisCluster,
} from './redis'
import { type ResourceServer, type ResourceServerOptions, startResourceServerFor } from './resource-server'
import { type Sink, startSink } from './sink'
import { startTcpProxy, type TcpProxy } from './tcp-proxy'

/** A DynamoDB table to create: a name (partition key `pk`) or a name and its partition key. */
export type TableSpec = string | { name: string; partitionKey?: string }

/** What {@link useServers} and {@link startServers} start; each server is started only when asked for. */
export interface ServersSpec<I extends string = never, K extends string = never> {
  /** The OAuth2 server (`startIssuer`): `true` for its defaults, or its options. */
  issuer?: true | IssuerOptions
  /** More OAuth2 servers, by name, e.g. `{ short: { accessTokenTtlSeconds: 4 } }`: `servers.issuers.short`. */
  issuers?: Record<I, IssuerOptions>
  /** A single redis-server (`startRedis`). */
  redis?: boolean
  /** A 3-primary Redis cluster (`startRedisCluster`): `true`, or its options. */
  redisCluster?: boolean | RedisClusterOptions
  /** dynalite (`startDynamo`): `true`, or the tables to create once it runs. */
  dynamo?: boolean | { tables: TableSpec[] }
  /** A protected API verifying the tokens of `issuer` (`startResourceServer`); needs `issuer`. */
  api?: true | Omit<ResourceServerOptions, 'issuer' | 'jwksUri' | 'audience'>
  /** The token endpoint with scripted faults (`startFakeIdp`): `true`, or its options. */
  fakeIdp?: true | FakeIdpOptions
  /** A TCP fault proxy (`startTcpProxy`) in front of one of the servers above. */
  tcpProxy?: 'redis' | 'dynamo' | 'issuer' | 'fakeIdp'
  /** Header-recording sinks (`startSink`), by name, e.g. `['sink', 'redirector']`: `servers.sinks.redirector`. */
  sinks?: K[]
  /**
   * `useServers` only: before each test, clear the issuer's armed failures and zero its counts, reset
   * the API's log and failures, and empty the sinks' headers and redirects, so every test starts from
   * what it sets up itself.
   */
  resetEach?: boolean
}

/** The running servers of a spec, and the clients made on them; see {@link useServers}. */
export interface Servers<I extends string = never, K extends string = never> {
  readonly issuer: Issuer
  readonly issuers: Record<I, Issuer>
  readonly redis: RedisServer
  readonly redisCluster: RedisCluster
  readonly dynamo: DynamoServer
  readonly api: ResourceServer
  readonly fakeIdp: FakeIdp
  readonly tcpProxy: TcpProxy
  readonly sinks: Record<K, Sink>
  /** A new ioredis client on `redis` (`options` override, e.g. `{ port: servers.tcpProxy.port }`), closed at stop. */
  redisClient(options?: RedisOptions): Redis
  /** A new ioredis cluster client on `redisCluster`'s nodes, closed at stop. */
  clusterClient(options?: ClusterOptions): Cluster
  /** A new DynamoDBClient on `dynamo` (`config` overrides, e.g. `maxAttempts`), destroyed at stop. */
  dynamoClient(config?: DynamoDBClientConfig): DynamoDBClient
  /** Runs `callback` at stop, before the servers stop (last registered, first run). */
  onStop(callback: () => unknown): void
}

/** The servers of {@link startServers}, with the `stop()` that closes the clients and stops them all. */
export interface StartedServers<I extends string = never, K extends string = never> extends Servers<I, K> {
  /** Clears the issuer's armed failures and counts, the API's log and failures, and the sinks' headers and redirects. */
  reset(): Promise<void>
  /** Closes every client made here and runs the `onStop` callbacks (last first), then stops every server. Safe to call twice. */
  stop(): Promise<void>
}

/** How long `useServers`' hooks may take: a Redis cluster and three issuers on a loaded 2-core machine. */
const HOOK_TIMEOUT_MS = 60_000

type Stoppable = { stop(): Promise<void> }

/**
 * Starts what `spec` asks for, in parallel where nothing depends on another (tables, the API and the
 * proxy once their server runs). When one fails to start, the others are stopped and the error is
 * thrown. For jest files, use {@link useServers}.
 *
 * @example
 * ```ts
 * const servers = await startServers({ issuer: { accessTokenTtlSeconds: 3_600 }, redis: true, dynamo: { tables: ['tokens'] } })
 * const store = redisStore({ client: servers.redisClient() })
 * await servers.stop()
 * ```
 */
export async function startServers<I extends string = never, K extends string = never>(
  spec: ServersSpec<I, K>,
): Promise<StartedServers<I, K>> {
  if (spec.api && !spec.issuer)
    throw new TypeError('Expected `issuer` in the spec: `api` verifies its tokens')
  if (spec.tcpProxy && !spec[spec.tcpProxy])
    throw new TypeError(`Expected \`${spec.tcpProxy}\` in the spec: \`tcpProxy\` stands in front of it`)
  const running: Partial<Record<string, unknown>> = {}
  const servers: Stoppable[] = []
  const cleanups: (() => unknown)[] = []
  const started = async <T extends Stoppable>(name: string, server: Promise<T>): Promise<T> => {
    const value = await server
    servers.push(value)
    running[name] = value
    return value
  }
  const options = <T extends object>(value: true | boolean | T | undefined): T | undefined =>
    typeof value === 'object' ? value : undefined
  const issuers: Partial<Record<I, Issuer>> = {}
  const sinks: Partial<Record<K, Sink>> = {}

  let stopped: Promise<void> | undefined
  const stop = () => {
    stopped ??= (async () => {
      const errors: unknown[] = []
      for (const cleanup of cleanups.splice(0).reverse()) {
        try {
          await cleanup()
        } catch (error) {
          errors.push(error)
        }
      }
      const results = await Promise.allSettled(servers.splice(0).map((s) => s.stop()))
      for (const r of results) if (r.status === 'rejected') errors.push(r.reason)
      if (errors.length > 0) throw errors[0]
    })()
    return stopped
  }

  try {
    await Promise.all([
      spec.issuer && started('issuer', startIssuer(options(spec.issuer))),
      ...Object.entries<IssuerOptions>(spec.issuers ?? ({} as Record<I, IssuerOptions>)).map(
        async ([name, o]) => {
          issuers[name as I] = await started(`issuers.${name}`, startIssuer(o))
        },
      ),
      spec.redis && started('redis', startRedis()),
      spec.redisCluster && started('redisCluster', startRedisCluster(options(spec.redisCluster))),
      spec.dynamo &&
        (async () => {
          const dynamo = await started('dynamo', startDynamo())
          for (const table of options(spec.dynamo)?.tables ?? []) {
            if (typeof table === 'string') await dynamo.createTable(table)
            else await dynamo.createTable(table.name, { partitionKey: table.partitionKey })
          }
        })(),
      spec.fakeIdp && started('fakeIdp', startFakeIdp(options(spec.fakeIdp))),
      ...(spec.sinks ?? []).map(async (name) => {
        sinks[name] = await started(`sinks.${name}`, startSink())
      }),
    ])
    const issuer = running.issuer as Issuer | undefined
    if (spec.api && issuer) {
      await started('api', startResourceServerFor(issuer, options(spec.api)))
    }
    if (spec.tcpProxy) {
      const target = running[spec.tcpProxy] as { port: number } | { tokenEndpoint: string }
      const port = 'port' in target ? target.port : Number(new URL(target.tokenEndpoint).port)
      await started('tcpProxy', startTcpProxy(port))
    }
  } catch (error) {
    await stop().catch(() => {})
    throw error
  }

  const get = <T>(name: keyof ServersSpec) => {
    if (!spec[name])
      throw new Error(`servers.${name} was not asked for: add \`${name}\` to the spec of useServers`)
    return running[name] as T
  }
  const closing = <T>(client: T, close: (client: T) => unknown): T => {
    cleanups.push(() => close(client))
    return client
  }
  // ioredis arms a 2 s timer when disconnecting a client that has ended already (a test closed it).
  const disconnect = (client: Redis | Cluster) => client.status !== 'end' && client.disconnect()
  const own = {
    issuers: issuers as Record<I, Issuer>,
    sinks: sinks as Record<K, Sink>,
    redisClient(o = {}) {
      const { host, port } = get<RedisServer>('redis')
      return closing(new Redis({ host, port, ...o }), disconnect)
    },
    clusterClient(o) {
      return closing(new Cluster(get<RedisCluster>('redisCluster').nodes, o), disconnect)
    },
    dynamoClient(config) {
      return closing(get<DynamoServer>('dynamo').makeClient(config), (c) => c.destroy())
    },
    onStop(callback) {
      cleanups.push(callback)
    },
    async reset() {
      const issuer = running.issuer as Issuer | undefined
      await issuer?.clearFailures()
      await issuer?.resetCounts()
      ;(running.api as ResourceServer | undefined)?.reset()
      for (const sink of Object.values<Sink>(sinks as Record<K, Sink>)) {
        sink.headers.length = 0
        sink.redirectTo(undefined)
      }
    },
    stop,
  } as StartedServers<I, K>
  return withServerFields(own, get)
}

/** The servers of a spec, each read when used (a getter): the fields jest files read after beforeAll. */
const SERVER_FIELDS = ['issuer', 'redis', 'redisCluster', 'dynamo', 'api', 'fakeIdp', 'tcpProxy'] as const

/** `servers` with a getter per server field, each returning `read(field)`: nothing is read before it is used. */
function withServerFields<T extends object>(
  servers: T,
  read: (name: (typeof SERVER_FIELDS)[number]) => unknown,
): T {
  for (const name of SERVER_FIELDS)
    Object.defineProperty(servers, name, { get: () => read(name), enumerable: true })
  return servers
}

/**
 * Starts the servers of `spec` in a `beforeAll` of the current scope (file or `describe`), with the
 * network restricted to loopback, and stops them in its `afterAll`; see the top of this file.
 *
 * @example
 * ```ts
 * const servers = useServers({ issuer: { accessTokenTtlSeconds: 300 }, dynamo: { tables: ['tokens'] } })
 * it('should ...', async () => {
 *   const store = dynamoDbStore({ client: servers.dynamoClient(), tableName: 'tokens' })
 * })
 * ```
 */
export function useServers<I extends string = never, K extends string = never>(
  spec: ServersSpec<I, K>,
): Servers<I, K> {
  let current: StartedServers<I, K> | undefined
  const now = (field: string): StartedServers<I, K> => {
    if (!current)
      throw new Error(
        `servers.${field} was read before useServers' beforeAll ran (or it failed to start them)`,
      )
    return current
  }
  let nock: typeof import('nock') | undefined
  beforeAll(async () => {
    // Loaded here, not at the top: startServers' users (benchmarks) must not get nock's interceptors.
    nock = (await import('nock')).default
    nock.disableNetConnect()
    nock.enableNetConnect('127.0.0.1')
    current = await startServers(spec)
  }, HOOK_TIMEOUT_MS)
  // The servers stay readable after they stopped: jest runs after-hooks in the order they were
  // declared, so a later afterAll of the file may still read what they recorded (e.g. tokensSeen).
  afterAll(async () => {
    try {
      await current?.stop()
    } finally {
      nock?.enableNetConnect()
    }
  }, HOOK_TIMEOUT_MS)
  if (spec.resetEach) beforeEach(() => now('resetEach').reset())
  const servers = Object.defineProperties(
    {
      redisClient: (options) => now('redisClient').redisClient(options),
      clusterClient: (options) => now('clusterClient').clusterClient(options),
      dynamoClient: (config) => now('dynamoClient').dynamoClient(config),
      onStop: (callback) => now('onStop').onStop(callback),
    } as Servers<I, K>,
    {
      issuers: { get: () => now('issuers').issuers, enumerable: true },
      sinks: { get: () => now('sinks').sinks, enumerable: true },
    },
  )
  return withServerFields(servers, (name) => now(name)[name])
}
