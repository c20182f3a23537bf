// What a call threw, for tests that look into a synchronous error (its class, message, reason)
// rather than only match its message. The counterpart of rejection.ts for calls that throw.

/**
 * The value `fn` threw, typed as `E` (no check: the assertions that follow say what it must be).
 * Throws when `fn` returns, so a call that should have failed cannot pass.
 */
export function thrownBy<E = Error>(fn: () => unknown): E {
  try {
    fn()
  } catch (error) {
    return error as E
  }
  throw new Error('expected the call to throw, and it returned')
}
