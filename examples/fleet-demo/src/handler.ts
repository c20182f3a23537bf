// The Lambda every container of the fleet demo runs: a Middy handler that reads an order from the
// protected API through axios with `attachToken`, as examples/lambda-dynamodb's handler does with
// fetch. Only how the bearer token is obtained differs between fleets, chosen by DEMO_STRATEGY:
//   per-invocation  a token request on every invocation;
//   per-container   one cache in this container's memory (what Middy's or axios' usual caching gives);
//   blog            the DynamoDB approach of the blog post, reimplemented as it is (see blog-cache.ts);
//   tokenstash      memory, then the shared store (DynamoDB, Redis, or the demo's own memory store);
//   tokenstash-warmer  the same, while the demo runs @tokenstash/warmer on a schedule beside the fleet.
// Importing this module is the container's init phase; `stats()` reports its store calls and how
// many invocations waited for a token request (this container's own, or another's it waited on).
import { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import middy from '@middy/core'
import { attachToken, type BearerTokenProvider } from '@tokenstash/axios'
import {
  clientCredentials,
  createTokenProvider,
  type TokenProvider,
  type TokenSource,
  type TokenStore,
} from '@tokenstash/core'
import { m2mToken } from '@tokenstash/middy'
import { dynamoDbStore } from '@tokenstash/store-dynamodb'
import { redisStore } from '@tokenstash/store-redis'
import axios from 'axios'
import { Redis } from 'ioredis'
import { blogTokenCache } from './blog-cache'
import { countingStore, type StoreCounters } from './counting-store'
import { portStore } from './port-store'
import { STRATEGIES, type Strategy } from './strategies'

const env = (name: string) => {
  const value = process.env[name]
  if (!value) throw new Error(`Missing environment variable ${name}`)
  return value
}
const strategy = env('DEMO_STRATEGY') as Strategy
if (!STRATEGIES.includes(strategy)) throw new Error(`Unknown DEMO_STRATEGY ${JSON.stringify(strategy)}`)

const counters: StoreCounters = { reads: 0, writes: 0 }
/** Invocations that waited for a token request: one of this container's, or one another container made under the lease. */
let waitedOnIdp = 0
/** Set when this container asks the token endpoint or waits on another's request; counted at the end of the invocation. */
let waiting = false
/** Store calls made in this container so far, and `waitedOnIdp` (the container reports them with every reply). */
export const stats = (): Record<string, number> => ({ ...counters, waitedOnIdp })

const endpoint = clientCredentials({
  tokenEndpoint: env('TOKEN_ENDPOINT'),
  clientId: env('CLIENT_ID'),
  clientSecret: env('CLIENT_SECRET'),
  audience: env('API_AUDIENCE'),
})
// Containers run in Lambda mode (inline refresh): every token request a container makes is awaited
// by an invocation (the init-phase prefetch by the first one).
const source: TokenSource = {
  id: endpoint.id,
  fetchToken: (signal) => {
    waiting = true
    return endpoint.fetchToken(signal)
  },
}
const dynamo = () =>
  new DynamoDBClient({
    endpoint: env('DYNAMODB_ENDPOINT'),
    region: 'us-east-1',
    credentials: { accessKeyId: 'demo', secretAccessKey: 'demo' },
  })

function sharedStore(): TokenStore {
  const kind = env('DEMO_STORE')
  if (kind === 'dynamodb') return dynamoDbStore({ client: dynamo(), tableName: env('TOKEN_TABLE') })
  if (kind === 'redis') return redisStore({ client: new Redis(env('REDIS_URL'), { lazyConnect: true }) })
  return portStore()
}

function tokenSource(): BearerTokenProvider | TokenProvider {
  switch (strategy) {
    case 'per-invocation':
      return { getToken: async () => (await source.fetchToken()).accessToken, invalidate: async () => {} }
    case 'per-container':
      return createTokenProvider({ source })
    case 'blog':
      return blogTokenCache({ source, client: dynamo(), tableName: env('BLOG_TABLE'), counters })
    case 'tokenstash':
    case 'tokenstash-warmer':
      return createTokenProvider({
        source,
        store: countingStore(sharedStore(), counters),
        encryptionKey: env('ENCRYPTION_KEY'),
        // A fleet of a few worker threads loading the AWS SDK at once on 2 cores is slower than
        // Lambda; the 1 s default would count the store as down during a scale-out burst.
        storeTimeoutMs: 5_000,
        // Every simulated container runs on this one host clock: 4 s tokens are shared only without the skew tolerance.
        clockSkewToleranceMs: 0,
        onEvent: (e) => {
          if (e.type === 'lease-wait') waiting = true
        },
      })
  }
}

const tokens = tokenSource()
const api = axios.create({ baseURL: env('API_URL'), timeout: 5_000 })
attachToken(api, tokens)

const base = middy<{ pathParameters?: { id?: string } }, { statusCode: number; body: string }>()
// Providers with a cache start fetching during the init phase, as the Middy example does.
const withPrefetch = 'getTokenSet' in tokens ? base.use(m2mToken({ fetchData: { apiToken: tokens } })) : base

const middyHandler = withPrefetch.handler(async (event) => {
  const id = event.pathParameters?.id ?? '0'
  const res = await api.get(`/${strategy}/orders/${encodeURIComponent(id)}`, { validateStatus: () => true })
  return { statusCode: res.status, body: JSON.stringify(res.data) }
})

/** GET /orders/{id}: reads the order from the protected API. */
export const handler = async (event: { pathParameters?: { id?: string } }, context: unknown) => {
  try {
    return await middyHandler(event, context as never)
  } finally {
    if (waiting) waitedOnIdp++
    waiting = false
  }
}
