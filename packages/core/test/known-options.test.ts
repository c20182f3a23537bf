import {
  auth0,
  ConfigError,
  clientCredentials,
  cognito,
  createTokenProvider,
  memoryStore,
} from '@tokenstash/core'
import { thrownBy } from '../../../test/support/thrown'
import { nearestName, refuseUnknownOptions } from '../src/known-options'
import { fakeSource } from './helpers'

const source = fakeSource(Date.now)
const creds = { tokenEndpoint: 'https://idp.example.com/token', clientId: 'c', clientSecret: 's' }
const hosted = { domain: 'acme.eu.auth0.com', clientId: 'c', clientSecret: 's' }

/** The ConfigError message a call throws, for plain-JavaScript options TypeScript would refuse. */
function messageOf(fn: () => unknown): string {
  const err = thrownBy(fn)
  expect(err).toBeInstanceOf(ConfigError)
  return err.message
}

describe('refuseUnknownOptions', () => {
  it('should name the unknown option and suggest the nearest known one', () => {
    expect(() => refuseUnknownOptions('f', { storeTimeout: 5 }, ['storeTimeoutMs', 'store'])).toThrow(
      'Unknown option `storeTimeout` of f; did you mean `storeTimeoutMs`?',
    )
  })

  it('should list the known options when none is close', () => {
    expect(() => refuseUnknownOptions('f', { colour: 1 }, ['max', 'now'])).toThrow(
      'Unknown option `colour` of f; expected one of `max`, `now`',
    )
  })

  it('should accept known options, undefined values included', () => {
    expect(() => refuseUnknownOptions('f', { max: undefined, now: Date.now }, ['max', 'now'])).not.toThrow()
  })

  it('should find misspellings, other casings and longer or shorter names', () => {
    const known = ['refreshRatio', 'expirySkewMs', 'encryptionKey', 'scope']
    expect(nearestName('refreshRation', known)).toBe('refreshRatio')
    expect(nearestName('EncryptionKey', known)).toBe('encryptionKey')
    expect(nearestName('expirySkew', known)).toBe('expirySkewMs')
    expect(nearestName('scopes', known)).toBe('scope')
    expect(nearestName('banana', known)).toBeUndefined()
  })
})

describe('factories refusing unknown options', () => {
  it('should refuse them in createTokenProvider, retry and lease', () => {
    // biome-ignore lint/suspicious/noExplicitAny: plain JavaScript callers
    const create = (o: any) => () => createTokenProvider({ source, ...o })
    expect(messageOf(create({ storeTimeout: 500 }))).toBe(
      'Unknown option `storeTimeout` of createTokenProvider; did you mean `storeTimeoutMs`?',
    )
    expect(messageOf(create({ retry: { retires: 2 } }))).toContain(
      '`retires` of createTokenProvider `retry`; did you mean `retries`?',
    )
    expect(messageOf(create({ lease: { waitMS: 2 } }))).toContain('did you mean `waitMs`?')
  })

  it('should refuse them in clientCredentials, auth0, cognito and memoryStore', () => {
    // biome-ignore lint/suspicious/noExplicitAny: plain JavaScript callers
    const any = (o: unknown) => o as any
    expect(messageOf(() => clientCredentials(any({ ...creds, scopes: ['a'] })))).toBe(
      'Unknown option `scopes` of clientCredentials; did you mean `scope`?',
    )
    expect(messageOf(() => auth0(any({ ...hosted, audience: 'a', scopes: 'x' })))).toContain(
      'did you mean `scope`?',
    )
    expect(messageOf(() => cognito(any({ ...hosted, scope: 'x' })))).toContain('did you mean `scopes`?')
    expect(messageOf(() => memoryStore(any({ maxEntries: 5 })))).toContain('did you mean `max`?')
  })
})
