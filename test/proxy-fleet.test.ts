import type { TokenStore } from '@tokenstash/core'
import { createTokenProxy, type ProxyListener } from '@tokenstash/proxy'
import { connectStore } from './support/fleet'
import { randomKey, requestToken } from './support/proxy-client'
import { useServers } from './support/servers'

// Two proxy instances (two containers, two hosts) sharing one store: a cold burst of 100 clients
// spread over both costs the identity provider one token request — the core's lease at work.

const CLIENTS = 100

describe('two @tokenstash/proxy instances sharing a store', () => {
  const servers = useServers({
    issuer: { accessTokenTtlSeconds: 300 },
    redis: true,
    dynamo: { tables: ['proxy-tokens'] },
  })
  const cleanup: (() => Promise<unknown>)[] = []
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn()
  })

  async function burst(makeStore: () => TokenStore): Promise<void> {
    const { issuer } = servers
    await issuer.resetCounts()
    const hmacKey = randomKey()
    const encryptionKey = randomKey()
    const listeners: ProxyListener[] = []
    for (let i = 0; i < 2; i++) {
      // A proxy instance is a long-lived server whose store client has connected before the burst;
      // a cold AWS SDK client's first call can outlast storeTimeoutMs on a loaded 2-core machine,
      // and the instance then rightly fails open with a fetch of its own: not this scenario.
      const store = makeStore()
      await store.get('warm-up')
      const proxy = createTokenProxy({
        upstream: issuer.tokenEndpoint,
        hmacKey,
        encryptionKey,
        store,
      })
      const listener = await proxy.listen(0)
      cleanup.push(() => listener.close())
      listeners.push(listener)
    }
    const replies = await Promise.all(
      Array.from({ length: CLIENTS }, (_, i) =>
        requestToken(listeners[i % 2]!.url, { client: issuer.clients.basic, scope: 'read' }),
      ),
    )
    expect(replies.map((r) => r.status)).toEqual(replies.map(() => 200))
    expect(new Set(replies.map((r) => r.body.access_token)).size).toBe(1)
    expect(await issuer.tokenRequests()).toBe(1)
  }

  it('should make one upstream request for a cold burst of 100 clients through Redis', async () => {
    await burst(() => connectStore(servers, 'redis').store)
  })

  it('should make one upstream request for a cold burst of 100 clients through DynamoDB', async () => {
    await burst(() => connectStore(servers, 'dynamo', 'proxy-tokens').store)
  })
})
