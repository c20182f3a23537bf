import { relative } from 'node:path'
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
// reaches `beforeExit` and is killed by jest as before: jest's SIGTERM then makes it name, on
// stderr, what it still held and the files it ran, so that the warning can be traced to a
// handle. No such line under the warning means the worker had nothing left and was already
// exiting, only slower than 500 ms (about a third of full runs on Node 20 here; cause not found).

let hooked = false
/** The files this worker ran, last first (a handle left by one of them is still held at the end). */
const files: string[] = []

/** The kinds of handle `process.getActiveResourcesInfo()` lists, counted: "TCPSocketWrap ×2, Timeout". */
function held(): string {
  const counts = new Map<string, number>()
  for (const kind of process.getActiveResourcesInfo()) counts.set(kind, (counts.get(kind) ?? 0) + 1)
  return [...counts].map(([kind, n]) => (n > 1 ? `${kind} ×${n}` : kind)).join(', ')
}

/** Installs the exit hooks once per worker process (this module is loaded in the worker, not in a test's sandbox). */
function exitPromptly(): void {
  if (hooked) return
  hooked = true
  process.once('beforeExit', (code) => process.exit(code))
  process.once('SIGTERM', () => {
    process.stderr.write(
      `jest worker ${process.pid} stopped by SIGTERM, still holding: ${held()} (its stdio pipes among them); files it ran, last first: ${files.slice(0, 5).join(', ')}\n`,
    )
    process.exit(143)
  })
}

export default class NodeEnvironment extends TestEnvironment {
  constructor(...args: ConstructorParameters<typeof TestEnvironment>) {
    super(...args)
    exitPromptly()
    files.unshift(relative(process.cwd(), args[1].testPath))
  }
}
