// One jest run, two projects: `unit` (per-package, nock, no network) and `integration`
// (top-level test/, real servers on loopback). ESM-only dependencies (jose, p-retry,
// @middy/core, axios) are transformed to CommonJS by swc, like our own TypeScript.

const esmOnly = [
  'jose',
  'p-retry',
  'is-network-error',
  '@middy',
  'axios',
  'lru-cache',
  'fast-check',
  'pure-rand',
]
const transformIgnorePatterns = [`node_modules/(?!(?:.*/)?(?:\\.pnpm/)?(?:${esmOnly.join('|')})(?:[@/+]))`]

const packages = ['core', 'store-dynamodb', 'store-redis', 'middy', 'axios']
const moduleNameMapper = {
  '^@tokenstash/core/testing$': '<rootDir>/packages/core/src/testing/index.ts',
  ...Object.fromEntries(packages.map((p) => [`^@tokenstash/${p}$`, `<rootDir>/packages/${p}/src/index.ts`])),
}

const shared = {
  rootDir: __dirname,
  testEnvironment: 'node',
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
  reporters: ['default', '<rootDir>/scripts/jest-summary-reporter.cjs'],
  testTimeout: 30_000,
  projects: [
    {
      ...shared,
      displayName: 'unit',
      testMatch: ['<rootDir>/packages/*/test/**/*.test.ts'],
    },
    {
      ...shared,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/**/*.test.ts', '<rootDir>/examples/*/test/**/*.test.ts'],
    },
  ],
}
