import { TestEnvironment } from 'jest-environment-node'

// Every project's test environment: node's, plus a prompt exit for the jest worker it runs in.
//
// At the end of a run jest asks each worker to exit and kills one that has not within 500 ms,
// printing "A worker process has failed to exit gracefully ... tests leaking due to improper
// teardown". On Node 20 that line came from workers with nothing left: each reached `beforeExit`
// holding only its IPC pipes and emitted `exit`, then spent longer than that in Node's own
// exit-time cleanup (FreeEnvironment -> CleanupHandles; with the suite in band, the same cleanup
// once spun for 30 minutes, which is why the runner used --forceExit). `beforeExit` is emitted only
// when the event loop is empty, so nothing is left to lose: the worker exits from there with
// `process.exit`, which skips that cleanup. A worker that still holds a socket or a timer never
// reaches `beforeExit`, is killed by jest as before, and its warning then means a real leak.

let hooked = false

/** Installs the exit hook once per worker process (this module is loaded in the worker, not in a test's sandbox). */
function exitPromptly(): void {
  if (hooked) return
  hooked = true
  process.once('beforeExit', (code) => process.exit(code))
}

export default class NodeEnvironment extends TestEnvironment {
  constructor(...args: ConstructorParameters<typeof TestEnvironment>) {
    super(...args)
    exitPromptly()
  }
}
