import NodeEnvironment from './node-environment'

// The `integration` project's test environment: ./node-environment's, plus the end of the leak guard
// (test/support/leak-guard.ts). The guard's scan runs when the file's last `afterAll` has run
// (hooks of a setup file run before the test file's own, which still log, throw and close
// things), and a leak fails the file as an error of the file, not of one test.

const GUARD = Symbol.for('tokenstash.leakGuard')

interface LeakGuard {
  finish(): Error | undefined
}

/** The two fields of jest-circus's event and state this environment uses. */
interface CircusEvent {
  name: string
}
interface CircusState {
  unhandledErrors: unknown[]
}

export default class LeakGuardEnvironment extends NodeEnvironment {
  async handleTestEvent(event: CircusEvent, state: CircusState): Promise<void> {
    if (event.name !== 'run_finish') return
    const guard = (this.global as Record<symbol, unknown>)[GUARD] as LeakGuard | undefined
    const failure = guard?.finish()
    if (failure) state.unhandledErrors.push(failure)
  }
}
