// Prints one plain closing line that any CI can read: "tests: N passed, N failed, N skipped".
// Written when the process exits, so it comes after jest's own summary and is the last line.
// With TOKENSTASH_SUMMARY_FILE set (scripts/test-runtimes.mjs), the counts also go to that file
// as JSON, so that runs on several Node versions can be summed. Before it: the ten slowest test
// files of the run, with their wall time, to see where a run's minutes go. And after it, when
// anything failed, one short block per failure (file, test name, the first lines of its message):
// a CI that keeps only the end of a long log still shows what broke (a run whose output was
// cut to its last lines said only "1 failed").
const { writeFileSync, writeSync } = require('node:fs')

const { relative } = require('node:path')

const SLOWEST = 10
/** Lines of a failure message kept in the closing list; the full message is in jest's output above. */
const MESSAGE_LINES = 6

// biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI colour codes in jest's messages
const ANSI = /\u001b\[[0-9;]*m/g

/** The first lines of a failure message, uncoloured, without the stack. */
function brief(message) {
  const lines = String(message).replace(ANSI, '').split('\n')
  const kept = []
  for (const line of lines) {
    if (/^\s+at /.test(line)) break
    if (line.trim() === '' && kept.length === 0) continue
    kept.push(`      ${line.trimEnd()}`)
    if (kept.length === MESSAGE_LINES) break
  }
  return kept.join('\n')
}

class SummaryReporter {
  #files = []
  #failures = []

  onTestResult(test, result) {
    const path = relative(test.context.config.rootDir, test.path)
    const { start, end } = result.perfStats ?? {}
    if (start && end) this.#files.push({ path, ms: end - start })
    const project = test.context.config.displayName?.name
    const where = project ? `${path} (${project})` : path
    if (result.testExecError)
      this.#failures.push(`  ${where}: failed to run\n${brief(result.testExecError.message)}`)
    for (const t of result.testResults)
      if (t.status === 'failed')
        this.#failures.push(`  ${where} › ${t.fullName}\n${brief(t.failureMessages.join('\n'))}`)
  }

  onRunComplete(_contexts, results) {
    const skipped = results.numPendingTests + results.numTodoTests
    // numFailedTestSuites already counts the files that failed to run (numRuntimeErrorTestSuites).
    const broken = results.numFailedTestSuites
    const line =
      (broken
        ? `\nsuites failed: ${broken} (${results.numRuntimeErrorTestSuites} of them failed to run)`
        : '') +
      `\ntests: ${results.numPassedTests} passed, ${results.numFailedTests} failed, ${skipped} skipped\n`
    const file = process.env.TOKENSTASH_SUMMARY_FILE
    if (file) {
      const counts = {
        passed: results.numPassedTests,
        failed: results.numFailedTests,
        skipped,
        brokenSuites: broken,
        failures: this.#failures,
      }
      writeFileSync(file, JSON.stringify(counts))
    }
    const slowest = this.#files
      .sort((a, b) => b.ms - a.ms)
      .slice(0, SLOWEST)
      .map((f) => `${(f.ms / 1000).toFixed(1).padStart(7)} s  ${f.path}`)
    const table = slowest.length > 1 ? `\nslowest ${slowest.length} test files:\n${slowest.join('\n')}\n` : ''
    const failures = this.#failures.length ? `\nfailed:\n${this.#failures.join('\n')}\n` : ''
    process.once('exit', () => writeSync(1, table + failures + line))
  }
}
module.exports = SummaryReporter
