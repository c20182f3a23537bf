import { createCipheriv, randomBytes } from 'node:crypto'
import { CompactEncrypt, compactDecrypt } from 'jose'
import nock from 'nock'
import { Keyring } from '../src/encryption'

// Store entries are JWE compact (alg dir, enc A256GCM) written with node:crypto; jose, the
// reference implementation, must read what the Keyring writes and the other way round (entries
// written before the switch stay readable), and any change to an entry must make it unreadable.

const KEY = new Uint8Array(32).fill(7)
const OTHER = new Uint8Array(32).fill(9)

describe('Keyring', () => {
  beforeAll(() => nock.disableNetConnect())
  afterAll(() => nock.enableNetConnect())

  it('should write entries that jose decrypts, with the cache key in the protected header', async () => {
    const jwe = await new Keyring(KEY).seal('{"accessToken":"t"}', 'default:abc')
    const { plaintext, protectedHeader } = await compactDecrypt(jwe, KEY)
    expect(new TextDecoder().decode(plaintext)).toBe('{"accessToken":"t"}')
    expect(protectedHeader).toMatchObject({ alg: 'dir', enc: 'A256GCM', 'ts.key': 'default:abc' })
  })

  it('should read entries that jose encrypted', async () => {
    const jwe = await new CompactEncrypt(new TextEncoder().encode('päyload'))
      .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', 'ts.key': 'k1' })
      .encrypt(KEY)
    expect(await new Keyring(KEY).open(jwe, 'k1')).toBe('päyload')
  })

  it('should return undefined for an entry under another key, altered, truncated or sealed with an unknown key', async () => {
    const ring = new Keyring(KEY)
    const jwe = await ring.seal('secret-ish', 'k1')
    const [h, e, iv, ct, tag] = jwe.split('.') as [string, string, string, string, string]
    const flip = (s: string) => `${s.slice(0, -2)}${s.at(-2) === 'A' ? 'B' : 'A'}${s.at(-1)}`
    const cases = [
      ['another cache key', await ring.open(jwe, 'k2')],
      ['altered ciphertext', await ring.open([h, e, iv, flip(ct), tag].join('.'), 'k1')],
      ['altered tag', await ring.open([h, e, iv, ct, flip(tag)].join('.'), 'k1')],
      ['truncated tag', await ring.open([h, e, iv, ct, tag.slice(0, 12)].join('.'), 'k1')],
      ['altered iv', await ring.open([h, e, flip(iv), ct, tag].join('.'), 'k1')],
      ['an encrypted key', await ring.open([h, 'AAAA', iv, ct, tag].join('.'), 'k1')],
      ['four parts', await ring.open([h, iv, ct, tag].join('.'), 'k1')],
      ['not base64url', await ring.open([h, e, iv, `${ct}!`, tag].join('.'), 'k1')],
      ['an unknown key', await new Keyring(OTHER).open(jwe, 'k1')],
      ['garbage', await ring.open('not a jwe', 'k1')],
    ]
    expect(cases).toEqual(cases.map(([name]) => [name, undefined]))
  })

  it('should refuse a header it would have to understand (crit, zip) or another algorithm', async () => {
    // Sealed correctly for the header given, so the header is the only thing wrong.
    const sealWith = (header: Record<string, unknown>) => {
      const h = Buffer.from(JSON.stringify(header)).toString('base64url')
      const iv = randomBytes(12)
      const cipher = createCipheriv('aes-256-gcm', KEY, iv)
      cipher.setAAD(Buffer.from(h, 'ascii'))
      const ct = Buffer.concat([cipher.update('x'), cipher.final()])
      return [h, '', iv, ct, cipher.getAuthTag()]
        .map((p) => (typeof p === 'string' ? p : p.toString('base64url')))
        .join('.')
    }
    const ring = new Keyring(KEY)
    const base = { alg: 'dir', enc: 'A256GCM', 'ts.key': 'k1' }
    expect(await ring.open(sealWith(base), 'k1')).toBe('x')
    for (const extra of [{ crit: ['exp'], exp: 1 }, { zip: 'DEF' }, { alg: 'A256KW' }, { enc: 'A128GCM' }]) {
      expect([extra, await ring.open(sealWith({ ...base, ...extra }), 'k1')]).toEqual([extra, undefined])
    }
  })

  it('should open entries sealed with any key of a rotation list and seal with the first', async () => {
    const old = await new Keyring(OTHER).seal('old', 'k1')
    const ring = new Keyring([KEY, OTHER])
    expect(await ring.open(old, 'k1')).toBe('old')
    expect(await new Keyring(KEY).open(await ring.seal('new', 'k1'), 'k1')).toBe('new')
  })
})
