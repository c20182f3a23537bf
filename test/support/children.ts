import type { ChildProcess } from 'node:child_process'
import { rmSync } from 'node:fs'

// Servers started by test support (redis-server, dynalite) never outlive the process that started
// them — a jest worker, the demo or a benchmark — whatever a test does; nor do their temp dirs.
const live = new Set<ChildProcess>()
const dirs = new Set<string>()
let hooked = false

function hook(): void {
  if (hooked) return
  hooked = true
  process.once('exit', () => {
    for (const child of live) child.kill('SIGKILL')
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
  })
}

/** Kills `child` when this process exits, if it is still running. */
export function track(child: ChildProcess): ChildProcess {
  hook()
  live.add(child)
  child.once('exit', () => live.delete(child))
  return child
}

/** Removes `dir` when this process exits; call the returned function once it is removed already. */
export function trackDir(dir: string): () => void {
  hook()
  dirs.add(dir)
  return () => dirs.delete(dir)
}

/** Resolves when `child` has exited (at once if it already has). */
export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => child.once('exit', () => resolve()))
}
