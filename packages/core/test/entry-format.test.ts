import { clientCredentials, createTokenProvider, memoryStore, RateLimitedError } from '@tokenstash/core'
import nock from 'nock'
import { Keyring } from '../src/encryption'
import { EntryCodec } from '../src/entry'
import { derivedKey } from '../src/key'
import { ENTRY_FIXTURE_KEY, ENTRY_FIXTURE_SOURCE } from './fixtures/entry-format-source'
import fixture from './fixtures/entry-format-v1.json'

// A rolling deployment runs two versions against one store. Whatever this version reads, it must
// read what 0.1.0 wrote (stored entry format v1), or every container of the new version treats
// the fleet's token as a miss and fetches its own. The fixture is what 0.1.0 wrote; never
// regenerate it (docs/versioning.md).

describe('stored entry format v1', () => {
  const keyring = new Keyring(ENTRY_FIXTURE_KEY)

  afterEach(() => {
    nock.cleanAll()
    nock.enableNetConnect()
  })

  /** A provider of this version on a store holding one entry a 0.1.0 instance wrote, at `now`. */
  async function providerOn(storeKey: string, entry: string, now: number, ttlMs: number) {
    nock.disableNetConnect()
    const endpoint = nock('https://issuer.fixture.test').post('/oauth2/token').reply(500)
    const store = memoryStore()
    await store.set(storeKey, entry, ttlMs)
    const provider = createTokenProvider({
      source: clientCredentials(ENTRY_FIXTURE_SOURCE),
      store,
      encryptionKey: ENTRY_FIXTURE_KEY,
      now: () => now,
    })
    return { provider, endpoint }
  }

  it('should derive the same cache key for the same source as 0.1.0', () => {
    const provider = createTokenProvider({ source: clientCredentials(ENTRY_FIXTURE_SOURCE) })
    expect(provider.key).toBe(fixture.cacheKey)
  })

  it.each([
    ['plaintext', undefined],
    ['sealed with the fixture key', keyring],
  ] as const)('should read a token, a cooldown and a failure marker written %s', async (_, ring) => {
    const codec = new EntryCodec(fixture.cacheKey, ring)
    const entries = ring ? fixture.sealed : fixture.plaintext
    expect(await codec.decodeToken(entries.token)).toEqual(fixture.expected.token)
    expect(await codec.decodeCooldown(entries.cooldown)).toBe(fixture.expected.cooldownUntil)
    expect(await codec.decodeFailure(entries.failure)).toEqual(fixture.expected.failure)
  })

  it('should read none of the sealed entries under another cache key or without their key', async () => {
    const other = new EntryCodec(`${fixture.cacheKey}x`, keyring)
    const wrongKey = new EntryCodec(fixture.cacheKey, new Keyring(Buffer.alloc(32, 7)))
    for (const codec of [other, wrongKey]) {
      expect(await codec.decodeToken(fixture.sealed.token)).toBeUndefined()
      expect(await codec.decodeCooldown(fixture.sealed.cooldown)).toBeUndefined()
      expect(await codec.decodeFailure(fixture.sealed.failure)).toBeUndefined()
    }
  })

  it('should serve the token a 0.1.0 instance stored, without a token request', async () => {
    const now = fixture.expected.token.issuedAt + 60_000
    const ttl = fixture.expected.token.expiresAt - now
    const { provider, endpoint } = await providerOn(fixture.cacheKey, fixture.sealed.token, now, ttl)
    expect(await provider.getToken()).toBe(fixture.expected.token.accessToken)
    expect(endpoint.isDone()).toBe(false)
  })

  it('should honour the cooldown a 0.1.0 instance stored, without a token request', async () => {
    const now = fixture.expected.cooldownUntil - 30_000
    const key = derivedKey.cooldown(fixture.cacheKey)
    const { provider, endpoint } = await providerOn(key, fixture.sealed.cooldown, now, 30_000)
    const error = await provider.getToken().catch((e: unknown) => e)
    expect(error).toBeInstanceOf(RateLimitedError)
    expect((error as RateLimitedError).retryAt).toBe(fixture.expected.cooldownUntil)
    expect(endpoint.isDone()).toBe(false)
  })
})
