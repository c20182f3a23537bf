import { packageConfig } from '../../tsup.config.base'

// The CLI is its own entry (bin), built like the library; it is not part of `exports`.
export default packageConfig({ index: 'src/index.ts', cli: 'src/cli.ts' })
