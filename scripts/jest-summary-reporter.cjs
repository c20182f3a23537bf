// Prints one plain closing line that any CI can read: "tests: N passed, N failed, N skipped".
// Written when the process exits, so it comes after jest's own summary and is the last line.
// With TOKENSTASH_SUMMARY_FILE set (scripts/test-runtimes.mjs), the counts also go to that file
// as JSON, so that runs on several Node versions can be summed.
const { writeFileSync, writeSync } = require('node:fs')

class SummaryReporter {
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
    process.once('exit', () => writeSync(1, line))
  }
}
module.exports = SummaryReporter
