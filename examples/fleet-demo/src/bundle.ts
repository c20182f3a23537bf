// The handler is deployed as Lambda functions are: bundled and minified with esbuild, the AWS SDK
// left out (the Node.js runtime provides it). The container script (examples/lambda-dynamodb's
// container.ts) is bundled too, so a worker thread starts on plain JavaScript: a cold start then
// costs loading the handler, as on Lambda, not a TypeScript loader per worker thread.
import { mkdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { build } from 'esbuild'
import { LAMBDA_BUNDLE } from '../../../test/support/lambda-bundle'

const here = dirname(fileURLToPath(import.meta.url))

/**
 * Bundles src/handler.ts and the container script into `.build/` beside this package (where the
 * AWS SDK resolves from its node_modules): the handler's file URL and the script's path.
 *
 * @example
 * ```ts
 * const { handler, script } = await bundleHandler()
 * startContainer('c1', env, { handler, script })
 * ```
 */
export async function bundleHandler(): Promise<{ handler: string; script: string }> {
  const outdir = join(here, '..', '.build')
  mkdirSync(outdir, { recursive: true })
  await build({
    entryPoints: {
      handler: join(here, 'handler.ts'),
      container: join(here, '..', '..', 'lambda-dynamodb', 'src', 'local', 'container.ts'),
    },
    outdir,
    outExtension: { '.js': '.mjs' },
    ...LAMBDA_BUNDLE,
    // Some bundled CommonJS code calls require(); an ESM bundle has to provide it.
    banner: {
      js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
    },
    logLevel: 'error',
  })
  return { handler: pathToFileURL(join(outdir, 'handler.mjs')).href, script: join(outdir, 'container.mjs') }
}
