// Prints one plain closing line that any CI can read: "tests: N passed, N failed, N skipped".
// Written when the process exits, so it comes after jest's own summary and is the last line.
// With TOKENSTASH_SUMMARY_FILE set (scripts/test-runtimes.mjs), the counts also go to that file
// as JSON, so that runs on several Node versions can be summed. Before it: the ten slowest test
// files of the run, with their wall time, to see where a run's minutes go.
const { writeFileSync, writeSync } = require('node:fs')

const { relative } = require('node:path')

const SLOWEST = 10

class SummaryReporter {
  #files = []

  onTestResult(test, result) {
    const { start, end } = result.perfStats ?? {}
    if (start && end)
      this.#files.push({ path: relative(test.context.config.rootDir, test.path), ms: end - start })
  }

  onRunComplete(_contexts, results) {
    const skipped = results.numPendingTests + results.numTodoTests
    const broken = results.numFailedTestSuites + results.numRuntimeErrorTestSuites
    const line =
      (broken ? `\nsuites failed or failed to run: ${broken}` : '') +
      `\ntests: ${results.numPassedTests} passed, ${results.numFailedTests} failed, ${skipped} skipped\n`
    const file = process.env.TOKENSTASH_SUMMARY_FILE
    if (file) {
      const counts = {
        passed: results.numPassedTests,
        failed: results.numFailedTests,
        skipped,
        brokenSuites: broken,
      }
      writeFileSync(file, JSON.stringify(counts))
    }
    const slowest = this.#files
      .sort((a, b) => b.ms - a.ms)
      .slice(0, SLOWEST)
      .map((f) => `${(f.ms / 1000).toFixed(1).padStart(7)} s  ${f.path}`)
    const table = slowest.length > 1 ? `\nslowest ${slowest.length} test files:\n${slowest.join('\n')}\n` : ''
    process.once('exit', () => writeSync(1, table + line))
  }
}
module.exports = SummaryReporter
