// `npm run example:proxy-cognito` from the repository root; `-- --serve` keeps the proxy running
// for the README's curl commands.
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { runExample } from './local'

// test/support finds dynalite and the issuer's dependencies from the repository root.
process.chdir(join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..'))
const result = await runExample({ serve: process.argv.includes('--serve') })
for (const problem of result.problems) process.stdout.write(`FAILED: ${problem}\n`)
if (result.ok)
  process.stdout.write('\nOK: 3 token requests for 5 answers over HTTP, 1 for 2 Lambda invocations\n')
process.exit(result.ok ? 0 : 1)
