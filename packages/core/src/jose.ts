// The only jose functions tokenstash uses (private_key_jwt client assertions), imported by name so
// that a bundler keeps just these: a whole-module `import('jose')` cannot be tree-shaken, and a
// Lambda bundle carried all of jose. This module is itself loaded with `import('./jose')` on the
// first client assertion, so client-secret sources never load jose at all. (Store entries are
// sealed with node:crypto: see encryption.ts.)
export { importJWK, SignJWT } from 'jose'
