import { ConfigError } from './errors'
import { nodeCrypto } from './node-crypto'

const NAMESPACE = /^[A-Za-z0-9._/-]{1,64}$/

export function checkNamespace(namespace: string): string {
  if (typeof namespace !== 'string' || !NAMESPACE.test(namespace)) {
    throw new ConfigError(
      `Expected \`namespace\` to be 1-64 characters of letters, digits, '.', '_', '/' or '-', got ${JSON.stringify(namespace)}`,
    )
  }
  return namespace
}

/**
 * The provider's cache key: `${namespace}:${sha256(source.id)}` (base64url, 128 bits). The source id
 * holds everything that changes which token comes back (endpoint, client, auth method, scopes,
 * audience, resource, extra params) and no secret, so the key holds none either.
 */
export function providerKey(sourceId: string, namespace: string): string {
  const hash = nodeCrypto().createHash('sha256').update(sourceId).digest('base64url').slice(0, 22)
  return `${namespace}:${hash}`
}

/** Keys derived from a provider key; a store may hash-tag the part before '#'. */
export const derivedKey = {
  lease: (key: string) => `${key}#lease`,
  cooldown: (key: string) => `${key}#cooldown`,
  failure: (key: string) => `${key}#failure`,
  /** When an instance last served this key (epoch ms, plain): what a warmer's `onlyIfUsedWithinMs` reads. */
  used: (key: string) => `${key}#used`,
}
