import { defineConfig, type Options } from 'tsup'

/** One build recipe for every package: ESM + CommonJS + declarations, Node 20 target. */
export function packageConfig(entry: Record<string, string>, extra: Partial<Options> = {}) {
  return defineConfig({
    entry,
    format: ['esm', 'cjs'],
    dts: { compilerOptions: { composite: false } },
    clean: true,
    sourcemap: true,
    target: 'node20',
    platform: 'node',
    splitting: false,
    treeshake: true,
    tsconfig: 'tsconfig.json',
    ...extra,
  })
}
