// Prints one plain closing line that any CI can read: "tests: N passed, N failed, N skipped".
class SummaryReporter {
  onRunComplete(_contexts, results) {
    const skipped = results.numPendingTests + results.numTodoTests
    const suitesFailed = results.numFailedTestSuites + results.numRuntimeErrorTestSuites
    process.stdout.write(
      `\ntests: ${results.numPassedTests} passed, ${results.numFailedTests} failed, ${skipped} skipped\n` +
        (suitesFailed ? `suites failed to run or failed: ${suitesFailed}\n` : ''),
    )
  }
}
module.exports = SummaryReporter
