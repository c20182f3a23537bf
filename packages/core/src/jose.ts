// The only jose functions tokenstash uses, imported by name so that a bundler keeps just these
// (a whole-module `import('jose')` cannot be tree-shaken: a Lambda bundle carried all of jose).
// This module itself is loaded with `import('./jose')` on the first store access or the first
// client assertion, so memory-only providers and client-secret sources never load jose at all.
export { CompactEncrypt, compactDecrypt, decodeProtectedHeader, importJWK, SignJWT } from 'jose'
