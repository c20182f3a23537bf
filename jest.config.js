// One jest run: `unit` (per-package, nock, no network), `unit (middy 5)`, `unit (middy 7)` (on
// Node 22 and later only) and `integration` (top-level test/, real servers on loopback). ESM-only dependencies (jose,
// @middy/core, axios) are transformed to CommonJS by swc, like our own TypeScript.

// The AWS SDK warns once per process that its 2027 releases need Node 22; in the test log that is noise.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'

const esmOnly = ['jose', '@middy', 'axios', 'lru-cache', 'fast-check', 'pure-rand']
const transformIgnorePatterns = [`node_modules/(?!(?:.*/)?(?:\\.pnpm/)?(?:${esmOnly.join('|')})(?:[@/+]))`]

const packages = [
  'core',
  'store-dynamodb',
  'store-redis',
  'middy',
  'axios',
  'proxy',
  'fetch',
  'otel',
  'warmer',
]
const moduleNameMapper = {
  '^@tokenstash/core/testing$': '<rootDir>/packages/core/src/testing/index.ts',
  ...Object.fromEntries(packages.map((p) => [`^@tokenstash/${p}$`, `<rootDir>/packages/${p}/src/index.ts`])),
}

/** The middleware's own tests again on another @middy/core major; its packages are ESM-only, mapped by path. */
function middyProject(major) {
  return {
    ...shared,
    displayName: `unit (middy ${major})`,
    globals: { MIDDY_MAJOR: major },
    testMatch: ['<rootDir>/packages/middy/test/**/*.test.ts'],
    moduleNameMapper: {
      ...moduleNameMapper,
      '^@middy/core$': `<rootDir>/packages/middy/node_modules/@middy/core-v${major}/index.js`,
      '^@middy/util$': `<rootDir>/packages/middy/node_modules/@middy/util-v${major}/index.js`,
    },
  }
}

// Middy 7 requires Node 22 (scripts/test-runtimes.mjs runs the unit projects on Node 22 and 24).
const nodeMajor = Number(process.versions.node.split('.')[0])

const shared = {
  rootDir: __dirname,
  // node's, plus a prompt exit for the worker at the end of the run (see the file).
  testEnvironment: '<rootDir>/test/support/node-environment.ts',
  // nock's interceptors live on globals between files; jest 30's soft-delete warning about them is noise.
  testEnvironmentOptions: { globalsCleanup: 'off' },
  transform: {
    '^.+\\.(t|j|mj|cj)sx?$': [
      '@swc/jest',
      {
        jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
        module: { type: 'commonjs' },
        sourceMaps: 'inline',
      },
    ],
  },
  transformIgnorePatterns,
  moduleNameMapper,
  moduleFileExtensions: ['ts', 'js', 'mjs', 'cjs', 'json'],
}

module.exports = {
  verbose: false,
  // Most integration files wait (on servers, on tokens' lifetimes, on leases) rather than compute:
  // jest's default of one worker per core but one ran this machine's 2 cores in band, at about 100%
  // of one core, in 450-500 s. One worker more than the cores ran the same files in about 175 s at
  // 145%. A timing-sensitive test must hold under that load anyway (CI runs beside other jobs).
  maxWorkers: require('node:os').availableParallelism() + 1,
  // jest's 'default' is these two reporters; the quiet one leaves out passing files' console output.
  reporters: [
    '<rootDir>/scripts/jest-quiet-reporter.cjs',
    'summary',
    '<rootDir>/scripts/jest-summary-reporter.cjs',
  ],
  testTimeout: 30_000,
  projects: [
    {
      ...shared,
      displayName: 'unit',
      globals: { MIDDY_MAJOR: 6 },
      testMatch: ['<rootDir>/packages/*/test/**/*.test.ts'],
    },
    // The peer range is @middy/core >=5 <8: the middleware's own tests run on Middy 6 (above), 5 and 7.
    middyProject(5),
    ...(nodeMajor >= 22 ? [middyProject(7)] : []),
    {
      ...shared,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/**/*.test.ts', '<rootDir>/examples/*/test/**/*.test.ts'],
      // Every integration file is a leak scan: test/support/leak-guard.ts captures, the environment
      // fails the file at its end if a token or secret was logged, published, thrown or stored.
      testEnvironment: '<rootDir>/test/support/leak-guard-environment.ts',
      setupFilesAfterEnv: ['<rootDir>/test/support/leak-guard.ts'],
    },
  ],
}
