// Prints one plain closing line that any CI can read: "tests: N passed, N failed, N skipped".
// Written when the process exits, so it comes after jest's own summary and is the last line.
const { writeSync } = require('node:fs')

class SummaryReporter {
  onRunComplete(_contexts, results) {
    const skipped = results.numPendingTests + results.numTodoTests
    const broken = results.numFailedTestSuites + results.numRuntimeErrorTestSuites
    const line =
      (broken ? `\nsuites failed or failed to run: ${broken}` : '') +
      `\ntests: ${results.numPassedTests} passed, ${results.numFailedTests} failed, ${skipped} skipped\n`
    process.once('exit', () => writeSync(1, line))
  }
}
module.exports = SummaryReporter
