import { generateKeyPairSync, randomBytes } from 'node:crypto'
import {
  clientCredentials,
  createTokenProvider,
  memoryStore,
  parseTokenResponse,
  type TokenEvent,
} from '@tokenstash/core'
import type { LeakGuard } from '../support/leak-guard'
import { type Channel, LeakScan, SECRET_FLOOR } from '../support/leak-scan'
import { credentialsOf } from '../support/reliability'
import { useServers } from '../support/servers'

// The leak guard that every integration file runs under (test/support/leak-guard.ts): its matcher
// finds a secret planted on each channel, and its wrappers are connected (this file's own provider
// calls show up in its figures).

const token = `eyJhbGciOiJub25lIn0.${Buffer.from(JSON.stringify({ sub: 'svc', jti: randomBytes(8).toString('hex') })).toString('base64url')}.${randomBytes(16).toString('base64url')}`
const clientSecret = randomBytes(24).toString('base64url')

function scanWithSecrets(): LeakScan {
  const scan = new LeakScan()
  scan.secret(token, 'access token')
  scan.secret(clientSecret, 'client secret')
  return scan
}

describe('LeakScan', () => {
  it('should find a token planted in a log line, an event, an error cause three levels down and a store key', () => {
    const scan = scanWithSecrets()
    scan.capture('console', `request failed with Authorization: Bearer ${token}`, 'console.error')
    const event: TokenEvent = { type: 'error', key: 'default:abc', message: `rejected ${token}` }
    scan.capture('event', JSON.stringify(event), 'tokenstash:event')
    const inner = new Error('socket hang up')
    Object.defineProperty(inner, 'config', { value: { headers: { authorization: `Bearer ${token}` } } })
    scan.error(new Error('outer', { cause: new Error('middle', { cause: inner }) }), 'provider.getToken()')
    scan.capture('store key', `default:abc#${token}`, 'TokenStore.get()')
    const leaks = scan.leaks()
    expect(leaks.map((l) => [l.channel, l.kind, l.where])).toEqual([
      ['console', 'access token', 'console.error'],
      ['event', 'access token', 'tokenstash:event'],
      // Only util.inspect with showHidden shows the non-enumerable config of the innermost cause.
      ['error', 'access token', 'provider.getToken(), seen by util.inspect showHidden'],
      ['store key', 'access token', 'TokenStore.get()'],
    ])
    for (const leak of leaks) expect(leak.context).toContain('<access token>')
    expect(JSON.stringify(leaks)).not.toContain(token)
  })

  it("should find an error's token through JSON.stringify, and through toJSON() when only it shows it", () => {
    const scan = scanWithSecrets()
    scan.error({ toJSON: () => ({ header: `Bearer ${token}` }) }, 'toJSON')
    scan.error(Object.assign(new Error('x'), { body: { token } }), 'enumerable')
    // JSON.stringify drops an Error's message; util.inspect of toJSON()'s result shows it.
    scan.error({ toJSON: () => ({ inner: new Error(`Bearer ${token}`) }) }, 'toJSON with an error')
    expect(scan.leaks().map((l) => l.where)).toEqual([
      'toJSON, seen by JSON.stringify',
      'enumerable, seen by util.inspect',
      'toJSON with an error, seen by toJSON()',
    ])
  })

  it("should find a JWT's payload alone, a client secret in a Basic header and an encryption key in another encoding", () => {
    const scan = scanWithSecrets()
    const key = randomBytes(32)
    scan.keyBytes(key.toString('base64'), 'encryption key')
    scan.secret(Buffer.from(`client:${clientSecret}`).toString('base64'), 'client credentials (Basic)')
    scan.capture('stdout', `claims ${token.split('.')[1]}`, 'process.stdout.write')
    scan.capture(
      'stderr',
      `Authorization: Basic ${Buffer.from(`client:${clientSecret}`).toString('base64')}`,
      'x',
    )
    scan.capture('console', `key ${key.toString('hex')}`, 'console.log')
    expect(scan.leaks().map((l) => [l.channel, l.kind])).toEqual([
      ['console', 'encryption key'],
      ['stdout', 'access token (JWT payload)'],
      ['stderr', 'client credentials (Basic)'],
    ])
  })

  it('should find the private part of a private key, whatever form the key was given in', () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const d = (privateKey.export({ format: 'jwk' }) as { d: string }).d
    for (const form of [
      privateKey,
      privateKey.export({ format: 'jwk' }),
      privateKey.export({ format: 'pem', type: 'pkcs8' }),
    ]) {
      const scan = new LeakScan()
      scan.privateKey(form)
      scan.capture('console', `signing with ${d}`, 'console.log')
      expect(scan.leaks().map((l) => l.kind)).toEqual(['private key'])
    }
  })

  it('should allow tokens, and only tokens, in the values of a store the user chose not to encrypt', () => {
    const scan = scanWithSecrets()
    const clear: Channel = 'store value (encryption: false)'
    scan.capture(clear, JSON.stringify({ accessToken: token }), 'TokenStore.set()')
    scan.capture(clear, JSON.stringify({ note: clientSecret }), 'TokenStore.set()')
    scan.capture('store value', JSON.stringify({ accessToken: token }), 'TokenStore.set()')
    expect(scan.leaks().map((l) => [l.channel, l.kind])).toEqual([
      ['store value', 'access token'],
      [clear, 'client secret'],
    ])
  })

  it(`should find secrets at either end of a text, and skip secrets shorter than ${SECRET_FLOOR} characters`, () => {
    const scan = scanWithSecrets()
    scan.secret('tok-1', 'access token')
    scan.capture('console', clientSecret, 'exact')
    scan.capture('console', `a${clientSecret}`, 'end')
    scan.capture('console', `${clientSecret.slice(0, -1)} tok-1 tok-10`, 'cut and short')
    expect(scan.leaks().map((l) => l.where)).toEqual(['exact', 'end'])
    expect(scan.figures().secrets).toBe(3)
  })
})

describe('leak guard', () => {
  const servers = useServers({ fakeIdp: true })
  const guard = (globalThis as Record<symbol, unknown>)[Symbol.for('tokenstash.leakGuard')] as LeakGuard

  it("should be watching this file: the provider's secrets, its events, errors and store writes", async () => {
    const before = guard.figures()
    const encryptionKey = randomBytes(32)
    const provider = createTokenProvider({
      source: clientCredentials(credentialsOf(servers.fakeIdp)),
      store: memoryStore(),
      encryptionKey: encryptionKey.toString('base64url'),
      retry: { retries: 0 },
    })
    servers.fakeIdp.failNext(1, { kind: 'status', status: 400 })
    await expect(provider.getToken()).rejects.toMatchObject({ code: 'ERR_TOKEN_ENDPOINT' })
    const token = await provider.getToken()
    console.info('leak guard test: got a token')
    const after = guard.figures()
    for (const channel of ['console', 'event', 'error', 'store key', 'store value'] as const)
      expect([channel, after.captured[channel] > before.captured[channel]]).toEqual([channel, true])
    // Learnt from the options (the fake IdP registers the raw secret and its tokens itself).
    const basic = Buffer.from(`${servers.fakeIdp.clientId}:${servers.fakeIdp.clientSecret}`).toString(
      'base64',
    )
    expect(guard.kindOf(basic)).toBe('client credentials (Basic)')
    expect(guard.kindOf(encryptionKey.toString('hex'))).toBe('encryption key')
    expect(guard.kindOf(token)).toBe('access token')
  })

  it("should capture every line a provider hands its own logger (pino, Powertools), not only the console's", async () => {
    const before = guard.figures()
    const lines: string[] = []
    const provider = createTokenProvider({
      source: clientCredentials(credentialsOf(servers.fakeIdp)),
      store: { ...memoryStore(), get: () => Promise.reject(new Error('ECONNREFUSED 127.0.0.1:6379')) },
      encryptionKey: randomBytes(32),
      logger: { warn: (line: string) => lines.push(line) },
    })
    await provider.getToken()
    expect(lines[0]).toContain('the shared store is failing')
    expect(guard.figures().captured.logger).toBeGreaterThan(before.captured.logger)
  })

  it("should learn the tokens of every answer core's parser reads, refresh and ID tokens too", () => {
    const [access, refresh, id] = [1, 2, 3].map(() => randomBytes(24).toString('base64url'))
    parseTokenResponse(
      JSON.stringify({ access_token: access, refresh_token: refresh, id_token: id, expires_in: 60 }),
      {
        endpoint: 'http://127.0.0.1/token',
        status: 200,
        contentType: 'application/json',
        issuedAt: 0,
        now: 0,
        tokenTypes: ['Bearer'],
      },
    )
    expect([access, refresh, id].map((t) => guard.kindOf(t!))).toEqual([
      'access token',
      'refresh token',
      'ID token',
    ])
  })
})
