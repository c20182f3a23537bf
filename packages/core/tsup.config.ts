import { packageConfig } from '../../tsup.config.base'

// Splitting keeps src/jose.ts a chunk of its own, loaded by import() on first use (see jose.ts).
export default packageConfig({ index: 'src/index.ts', testing: 'src/testing/index.ts' }, { splitting: true })
