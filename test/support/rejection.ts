// What a promise rejected with, for tests that look into an error (its code, cause, fields) rather
// than only match its message. Fails the test when the promise fulfils.

/**
 * The reason `promise` rejected with, typed as `E` (no check: the assertions that follow say what
 * it must be). Throws when the promise fulfils, so a call that should have failed cannot pass.
 */
export async function rejectionOf<E = Error>(promise: Promise<unknown>): Promise<E> {
  try {
    await promise
  } catch (error) {
    return error as E
  }
  throw new Error('expected the promise to reject, and it fulfilled')
}
