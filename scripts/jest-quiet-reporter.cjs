// jest's default reporter, without the console output of test files that passed. Tests build
// providers with the default logger (console) on purpose, so a full run printed about 184,000
// lines of expected warnings, burying what matters. A file that fails keeps its console output
// (it may explain the failure), and TOKENSTASH_TEST_CONSOLE=all prints every file's, as jest does.
// The leak guard still reads every console line (it reads jest's buffer, not the output).
const { createRequire } = require('node:module')

// @jest/reporters is jest's own dependency, not ours: resolved through jest, as pnpm links it.
const fromJest = createRequire(require.resolve('jest'))
const fromCore = createRequire(fromJest.resolve('@jest/core'))
const { DefaultReporter } = fromCore('@jest/reporters')

class QuietReporter extends DefaultReporter {
  #hidden = 0

  onTestResult(test, result, aggregated) {
    const quiet =
      process.env.TOKENSTASH_TEST_CONSOLE !== 'all' &&
      result.numFailingTests === 0 &&
      !result.testExecError &&
      !result.failureMessage
    if (quiet && result.console?.length) this.#hidden += result.console.length
    super.onTestResult(test, quiet ? { ...result, console: undefined } : result, aggregated)
  }

  onRunComplete(testContexts, aggregated) {
    super.onRunComplete?.(testContexts, aggregated)
    if (this.#hidden > 0)
      this.log(
        `console: ${this.#hidden.toLocaleString('en-US')} line${this.#hidden === 1 ? '' : 's'} of passing test files not shown (TOKENSTASH_TEST_CONSOLE=all shows them)`,
      )
  }
}

module.exports = QuietReporter
