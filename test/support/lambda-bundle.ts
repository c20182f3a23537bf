import type { BuildOptions } from 'esbuild'

/**
 * How a Lambda function is bundled for deployment, in esbuild's terms: one minified ESM file for
 * the Node.js 20 runtime, the AWS SDK left out (the runtime provides it). Entry points, output and
 * logging are the caller's.
 *
 * @example
 * ```ts
 * await build({ ...LAMBDA_BUNDLE, entryPoints: ['src/handler.ts'], outfile: '.build/handler.mjs' })
 * ```
 */
export const LAMBDA_BUNDLE = {
  bundle: true,
  minify: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: ['@aws-sdk/*', '@smithy/*'],
} as const satisfies BuildOptions
