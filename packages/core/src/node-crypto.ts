import type * as NodeCrypto from 'node:crypto'

let loaded: typeof NodeCrypto | undefined

/**
 * `node:crypto`, loaded at its first use rather than at import: loading it pulls in the stream
 * machinery (about 3 ms of a cold start on this project's benchmark machine), and a provider
 * without a shared store or `private_key_jwt` needs it only for its cache key, computed on first
 * use. `process.getBuiltinModule` exists from Node 20.16; the engines field asks for 20.19.
 */
export function nodeCrypto(): typeof NodeCrypto {
  loaded ??= process.getBuiltinModule('node:crypto')
  return loaded
}
