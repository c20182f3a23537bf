// `npm run docs`: the API reference of every package, from its TSDoc comments, into docs/api/
// (not committed). Warnings are errors: an exported name without a comment, a {@link} that does
// not resolve, a type used in the API but not exported all fail the build. Every folder under
// packages/ with a src/index.ts is documented, so a new package is covered without an edit here.
import { existsSync, readdirSync, readFileSync } from 'node:fs'

const packages = readdirSync('packages').filter((dir) => existsSync(`packages/${dir}/src/index.ts`))

/** @type {Partial<import('typedoc').TypeDocOptions>} */
export default {
  name: 'tokenstash',
  entryPointStrategy: 'resolve',
  entryPoints: ['packages/*/src/index.ts', 'packages/*/src/testing/index.ts'],
  tsconfig: 'tsconfig.docs.json',
  out: 'docs/api',
  readme: 'none',
  plugin: ['./scripts/typedoc-package-names.mjs'],
  excludePrivate: true,
  excludeInternal: true,
  excludeExternals: true,
  disableSources: true,
  treatWarningsAsErrors: true,
  treatValidationWarningsAsErrors: true,
  validation: {
    notExported: true,
    invalidLink: true,
    invalidPath: true,
    rewrittenLink: true,
    notDocumented: true,
  },
  // notDocumented applies to the reflections of these packages (TypeDoc's default is the root's name).
  packagesRequiringDocumentation: packages.map(
    (dir) => JSON.parse(readFileSync(`packages/${dir}/package.json`, 'utf8')).name,
  ),
  // Every exported name: what `import { … } from '@tokenstash/…'` can name. Members (properties,
  // methods) of exported types are documented where they need it, not enforced here.
  // Shapes of third-party clients, whose methods mean what the client's own docs say.
  intentionallyNotDocumented: [
    ...['get', 'set', 'del', 'evalsha', 'eval'].map((m) => `@tokenstash/store-redis.IoRedisLike.${m}`),
    ...['get', 'set', 'del', 'evalSha', 'eval'].map((m) => `@tokenstash/store-redis.NodeRedisLike.${m}`),
  ],
  requiredToBeDocumented: ['Enum', 'Variable', 'Function', 'Class', 'Interface', 'TypeAlias'],
}
