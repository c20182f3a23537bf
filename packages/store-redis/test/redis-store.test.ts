import { EventEmitter } from 'node:events'
import { ConfigError, StoreError, type TokenStore } from '@tokenstash/core'
import { redisStore } from '@tokenstash/store-redis'
import nock from 'nock'
import { redisKey } from '../src/keys'
import { compareAndDelete, readFromPrimary, renewIfOwner } from '../src/scripts'

beforeAll(() => nock.disableNetConnect())
afterAll(() => nock.enableNetConnect())

type Call = [string, ...unknown[]]

type Replies = Record<string, (...args: unknown[]) => unknown>

/** Records calls like a Redis client's API; replies come from `replies` by method name. The two
 * clients differ, for the store, only in how the script call is spelled. */
function fakeRedis(evalShaName: 'evalsha' | 'evalSha', replies: Replies) {
  const calls: Call[] = []
  const method =
    (name: string) =>
    async (...args: unknown[]) => {
      calls.push([name, ...args])
      return replies[name] ? replies[name](...args) : name === 'set' ? 'OK' : null
    }
  const client = {
    get: method('get'),
    set: method('set'),
    del: method('del'),
    eval: method('eval'),
    [evalShaName]: method(evalShaName),
  }
  return { client, calls }
}

const fakeIoRedis = (replies: Replies = {}) => fakeRedis('evalsha', replies)
const fakeNodeRedis = (replies: Replies = {}) => fakeRedis('evalSha', replies)

/** What the provider does first with a store whose `get` answers 'stored': a read, a write for `ttlMs`, a lease. */
async function getSetAndLease(store: TokenStore, ttlMs: number) {
  expect(await store.get('ns:k')).toBe('stored')
  await store.set('ns:k', 'v', ttlMs)
  expect(await store.acquireLease('ns:k#lease', 'me', 100)).toBe(true)
}

describe('redisKey', () => {
  it('should wrap the base key in a hash tag and keep the derived suffix outside it', () => {
    expect(redisKey('tokenstash:', 'default:ab12')).toBe('tokenstash:{default:ab12}')
    expect(redisKey('tokenstash:', 'default:ab12#lease')).toBe('tokenstash:{default:ab12}#lease')
    expect(redisKey('p:', 'ns:k#cooldown#x')).toBe('p:{ns:k}#cooldown#x')
    expect(redisKey('', 'k')).toBe('{k}')
  })
})

describe('redisStore', () => {
  describe('options', () => {
    it('should reject a missing options object', () => {
      expect(() => redisStore(undefined as never)).toThrow(ConfigError)
    })

    it.each([
      [undefined, 'undefined'],
      [null, 'null'],
      [{}, 'object'],
      [{ get() {}, set() {} }, 'object'],
      ['redis://localhost', 'string'],
    ])('should reject a client that is neither ioredis nor node-redis (%p)', (client, kind) => {
      expect(() => redisStore({ client: client as never })).toThrow(
        `Expected \`client\` to be an ioredis Redis or Cluster, or a node-redis (v4 or later) client or cluster, got ${kind}`,
      )
    })

    it.each(['a{b', 'a}b', 42])('should reject a prefix that would break the hash tag (%p)', (prefix) => {
      expect(() => redisStore({ client: fakeIoRedis().client, prefix: prefix as never })).toThrow(
        /Expected `prefix` to be a string without/,
      )
    })

    it('should accept an empty prefix', async () => {
      const { client, calls } = fakeIoRedis()
      await redisStore({ client, prefix: '' }).get('k')
      expect(calls).toEqual([['get', '{k}']])
    })
  })

  describe('with a cluster client that reads from replicas', () => {
    it.each([
      [
        'an ioredis Cluster with scaleReads: slave',
        'evalsha' as const,
        { isCluster: true, options: { scaleReads: 'slave' } },
      ],
      [
        'an ioredis Cluster with scaleReads: all',
        'evalsha' as const,
        { isCluster: true, options: { scaleReads: 'all' } },
      ],
      ['a node-redis cluster with useReplicas', 'evalSha' as const, { _options: { useReplicas: true } }],
    ])('should read through a script from the primary with %s', async (_, spelling, shape) => {
      const fake = fakeRedis(spelling, { [spelling]: () => 'stored' })
      const store = redisStore({ client: Object.assign(fake.client, shape) })
      expect(await store.get('ns:k')).toBe('stored')
      expect(fake.calls).toHaveLength(1)
      const [name, ...args] = fake.calls[0]!
      expect(name).toBe(spelling)
      expect(JSON.stringify(args)).toContain(readFromPrimary.sha1)
      expect(JSON.stringify(args)).toContain('tokenstash:{ns:k}')
    })

    it('should read with GET from an ioredis Cluster that reads from masters', async () => {
      const fake = fakeIoRedis({ get: () => 'stored' })
      const store = redisStore({
        client: Object.assign(fake.client, { isCluster: true, options: { scaleReads: 'master' } }),
      })
      expect(await store.get('ns:k')).toBe('stored')
      expect(fake.calls).toEqual([['get', 'tokenstash:{ns:k}']])
    })

    it('should miss when the script finds nothing', async () => {
      const fake = fakeIoRedis({ evalsha: () => null })
      const store = redisStore({
        client: Object.assign(fake.client, { isCluster: true, options: { scaleReads: 'slave' } }),
      })
      expect(await store.get('ns:k')).toBeUndefined()
    })
  })

  describe('with an ioredis client', () => {
    it('should use SET PX, SET PX NX and GET on hash-tagged keys', async () => {
      const { client, calls } = fakeIoRedis({ get: () => 'stored' })
      await getSetAndLease(redisStore({ client }), 1500.2)
      expect(calls).toEqual([
        ['get', 'tokenstash:{ns:k}'],
        ['set', 'tokenstash:{ns:k}', 'v', 'PX', 1501],
        ['set', 'tokenstash:{ns:k}#lease', 'me', 'PX', 100, 'NX'],
      ])
    })

    it('should renew a lease with the owner-only script, answering whether it did', async () => {
      const replies = [1, 0]
      const { client, calls } = fakeIoRedis({ evalsha: () => replies.shift() })
      const store = redisStore({ client })
      expect(await store.renewLease('ns:k#lease', 'me', 2500.5)).toBe(true)
      expect(await store.renewLease('ns:k#lease', 'me', 2500)).toBe(false)
      expect(calls).toEqual([
        ['evalsha', renewIfOwner.sha1, 1, 'tokenstash:{ns:k}#lease', 'me', '2501'],
        ['evalsha', renewIfOwner.sha1, 1, 'tokenstash:{ns:k}#lease', 'me', '2500'],
      ])
    })

    it('should send nothing for a call whose signal is already aborted', async () => {
      const { client, calls } = fakeIoRedis()
      const controller = new AbortController()
      controller.abort()
      await expect(
        redisStore({ client }).acquireLease('k#lease', 'me', 100, { signal: controller.signal }),
      ).rejects.toThrow('Redis acquireLease failed (AbortError)')
      expect(calls).toEqual([])
    })

    it('should stop waiting for a reply when the signal aborts', async () => {
      const { client } = fakeIoRedis({ get: () => new Promise(() => {}) })
      const controller = new AbortController()
      const got = redisStore({ client }).get('k', { signal: controller.signal })
      controller.abort()
      await expect(got).rejects.toBeInstanceOf(StoreError)
    })

    it('should report a lost lease race when SET NX answers null', async () => {
      const { client } = fakeIoRedis({ set: () => null })
      expect(await redisStore({ client }).acquireLease('k#lease', 'me', 100)).toBe(false)
    })

    it('should map a null reply to undefined', async () => {
      expect(await redisStore({ client: fakeIoRedis().client }).get('k')).toBeUndefined()
    })

    it('should delete instead of writing a ttl that is already over', async () => {
      const { client, calls } = fakeIoRedis()
      await redisStore({ client }).set('k', 'v', 0)
      expect(calls).toEqual([['del', 'tokenstash:{k}']])
    })

    it('should delete unconditionally with DEL and conditionally with the Lua script by SHA1', async () => {
      const { client, calls } = fakeIoRedis()
      const store = redisStore({ client })
      await store.delete('k')
      await store.delete('k', 'old')
      await store.releaseLease('k#lease', 'me')
      expect(calls).toEqual([
        ['del', 'tokenstash:{k}'],
        ['evalsha', compareAndDelete.sha1, 1, 'tokenstash:{k}', 'old'],
        ['evalsha', compareAndDelete.sha1, 1, 'tokenstash:{k}#lease', 'me'],
      ])
    })

    it('should send the script body once when the server answers NOSCRIPT', async () => {
      const { client, calls } = fakeIoRedis({
        evalsha: () => {
          throw new Error('NOSCRIPT No matching script. Please use EVAL.')
        },
      })
      await redisStore({ client }).releaseLease('k#lease', 'me')
      expect(calls.map((c) => c[0])).toEqual(['evalsha', 'eval'])
      expect(calls[1]).toEqual(['eval', compareAndDelete.body, 1, 'tokenstash:{k}#lease', 'me'])
    })
  })

  describe('with a node-redis client', () => {
    it('should use the option objects of node-redis', async () => {
      const { client, calls } = fakeNodeRedis({ get: () => 'stored' })
      const store = redisStore({ client })
      await getSetAndLease(store, 1000)
      await store.delete('ns:k', 'v')
      expect(calls).toEqual([
        ['get', 'tokenstash:{ns:k}'],
        ['set', 'tokenstash:{ns:k}', 'v', { PX: 1000 }],
        ['set', 'tokenstash:{ns:k}#lease', 'me', { PX: 100, NX: true }],
        ['evalSha', compareAndDelete.sha1, { keys: ['tokenstash:{ns:k}'], arguments: ['v'] }],
      ])
    })

    it('should treat a reply that is not a string as a miss', async () => {
      const { client } = fakeNodeRedis({ get: () => Buffer.from('x') })
      expect(await redisStore({ client }).get('k')).toBeUndefined()
    })

    it('should fall back to EVAL on NOSCRIPT', async () => {
      const { client, calls } = fakeNodeRedis({
        evalSha: () => {
          throw new Error('NOSCRIPT No matching script')
        },
      })
      await redisStore({ client }).delete('k', 'v')
      expect(calls[1]).toEqual([
        'eval',
        compareAndDelete.body,
        { keys: ['tokenstash:{k}'], arguments: ['v'] },
      ])
    })
  })

  describe('errors', () => {
    it('should wrap a client error as a StoreError with the cause and no value in the message', async () => {
      const boom = Object.assign(new Error('ERR something about secret-value-123'), {
        command: { name: 'set', args: ['tokenstash:{k}', 'secret-value-123', 'PX', '1000'] },
      })
      const { client } = fakeIoRedis({
        set: () => {
          throw boom
        },
      })
      const err = await redisStore({ client })
        .set('k', 'secret-value-123', 1000)
        .catch((e: unknown) => e)
      expect(err).toBeInstanceOf(StoreError)
      expect(err).toMatchObject({ code: 'ERR_STORE', operation: 'set', name: 'StoreError' })
      expect((err as StoreError).message).toBe(
        'Redis set failed (ERR); check that Redis is reachable and the client is connected',
      )
      expect((err as StoreError).cause).toBe(boom)
      expect(JSON.stringify(boom.command)).not.toContain('secret-value-123')
    })

    it('should name a socket error by its code', async () => {
      const { client } = fakeNodeRedis({
        get: () => {
          throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' })
        },
      })
      await expect(redisStore({ client }).get('k')).rejects.toThrow('Redis get failed (ECONNREFUSED)')
    })

    it('should name the connection failure the client reported when a command fails generically', async () => {
      const { EventEmitter } = await import('node:events')
      const { client } = fakeIoRedis({
        get: () => {
          throw Object.assign(new Error('Reached the max retries per request limit (which is 1).'), {
            name: 'MaxRetriesPerRequestError',
          })
        },
      })
      const emitter = Object.assign(new EventEmitter(), client)
      const store = redisStore({ client: emitter })
      redisStore({ client: emitter })
      expect(emitter.listenerCount('error')).toBe(1)
      emitter.emit(
        'error',
        Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' }),
      )
      await expect(store.get('k')).rejects.toThrow('Redis get failed (ECONNREFUSED)')
      emitter.emit('error', new Error('NOAUTH Authentication required.'))
      await expect(store.get('k')).rejects.toThrow('Redis get failed (NOAUTH)')
      emitter.emit('ready')
      await expect(store.get('k')).rejects.toThrow('Redis get failed (MaxRetriesPerRequestError)')
    })

    it('should refuse an unknown option, naming the nearest known', () => {
      expect(() => redisStore({ client: fakeIoRedis().client, prefx: 'a:' } as never)).toThrow(
        /Unknown option `prefx` of redisStore; did you mean `prefix`\?/,
      )
    })

    it('should fall back to the error class name when nothing else is safe to show', async () => {
      const { client } = fakeIoRedis({
        get: () => {
          throw new TypeError('weird: token=abc')
        },
      })
      const err = (await redisStore({ client })
        .get('k')
        .catch((e: unknown) => e)) as StoreError
      expect(err.message).toBe(
        'Redis get failed (TypeError); check that Redis is reachable and the client is connected',
      )
    })

    it('should not retry EVAL for errors other than NOSCRIPT', async () => {
      const { client, calls } = fakeIoRedis({
        evalsha: () => {
          throw new Error('READONLY You cannot write against a read only replica.')
        },
      })
      await expect(redisStore({ client }).releaseLease('k#lease', 'me')).rejects.toThrow(
        'Redis releaseLease failed (READONLY)',
      )
      expect(calls.map((c) => c[0])).toEqual(['evalsha'])
    })

    it.each(['', '#lease', 7])(
      'should reject a key without a base (%p) before calling Redis',
      async (key) => {
        const { client, calls } = fakeIoRedis()
        await expect(redisStore({ client }).get(key as never)).rejects.toBeInstanceOf(StoreError)
        expect(calls).toEqual([])
      },
    )
  })

  describe('with a client still making its first connection', () => {
    /** A client that refuses commands until it is ready, like enableOfflineQueue: false / disableOfflineQueue: true. */
    function connectingClient(shape: 'ioredis' | 'node-redis', initial: Record<string, unknown>) {
      const fake = shape === 'ioredis' ? fakeIoRedis() : fakeNodeRedis()
      const emitter = new EventEmitter()
      const state = { ...initial }
      const isReady = () => state.status === 'ready' || state.isReady === true
      const client = Object.assign(emitter, state, {
        connect: jest.fn(async () => {}),
        get: async (key: string) => {
          if (!isReady()) throw new Error("Stream isn't writeable and enableOfflineQueue options is false")
          return fake.client.get(key)
        },
        set: fake.client.set,
        del: fake.client.del,
        eval: fake.client.eval,
        evalsha: (fake.client as Record<string, unknown>).evalsha,
        evalSha: (fake.client as Record<string, unknown>).evalSha,
      })
      const become = (next: Record<string, unknown>) => {
        Object.assign(state, next)
        Object.assign(client, next)
        if (isReady()) emitter.emit('ready')
      }
      return { client: client as never as object & { connect: jest.Mock }, calls: fake.calls, become }
    }

    it.each([
      ['ioredis', { status: 'connecting' }, { status: 'ready' }],
      ['node-redis', { isOpen: true, isReady: false }, { isReady: true }],
    ] as const)(
      'should wait for a %s client to be ready instead of failing',
      async (shape, initial, ready) => {
        const { client, calls, become } = connectingClient(shape, initial)
        const store = redisStore({ client })
        const got = store.get('k')
        await new Promise((r) => setTimeout(r, 20))
        expect(calls).toEqual([])
        become(ready)
        await expect(got).resolves.toBeUndefined()
        expect(calls).toEqual([['get', 'tokenstash:{k}']])
      },
    )

    it('should start the connection of a lazyConnect client, as its first command would', async () => {
      const { client, become } = connectingClient('ioredis', { status: 'wait' })
      const got = redisStore({ client }).get('k')
      await new Promise((r) => setTimeout(r, 5))
      expect(client.connect).toHaveBeenCalledTimes(1)
      become({ status: 'ready' })
      await expect(got).resolves.toBeUndefined()
    })

    it('should give up waiting when the signal aborts, without sending the command', async () => {
      const { client, calls } = connectingClient('ioredis', { status: 'connecting' })
      const got = redisStore({ client }).get('k', { signal: AbortSignal.timeout(20) })
      await expect(got).rejects.toThrow('Redis get failed (TimeoutError)')
      expect(calls).toEqual([])
    })

    it('should send the command after connectWaitMs, and fail as the client says', async () => {
      const { client } = connectingClient('ioredis', { status: 'connecting' })
      await expect(redisStore({ client, connectWaitMs: 10 }).get('k')).rejects.toBeInstanceOf(StoreError)
    })

    it('should not wait for a client that was ready once and is reconnecting', async () => {
      const { client, become } = connectingClient('ioredis', { status: 'connecting' })
      const store = redisStore({ client, connectWaitMs: 60_000 })
      become({ status: 'ready' })
      await store.get('k')
      become({ status: 'reconnecting' })
      await expect(store.get('k')).rejects.toBeInstanceOf(StoreError)
    })

    it.each([-1, Number.NaN, '5'])('should reject connectWaitMs %p', (connectWaitMs) => {
      expect(() =>
        redisStore({ client: fakeIoRedis().client, connectWaitMs: connectWaitMs as never }),
      ).toThrow(ConfigError)
    })
  })
})
