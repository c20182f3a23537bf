import { execFileSync } from 'node:child_process'
import { join } from 'node:path'

// The middy README's "From CommonJS" section: each @middy/core major this repository tests, loaded
// with `require` in a child process (no transform), running a handler with m2mToken from the CJS build.
const middyModules = join(__dirname, '..', 'packages', 'middy', 'node_modules', '@middy')
const [nodeMajor, nodeMinor] = process.versions.node.split('.').map(Number) as [number, number]
// require(esm) without a flag: Node 20.19+ and 22.12+; Middy 7 wants Node 22.
const requireEsm =
  (nodeMajor === 20 && nodeMinor >= 19) || (nodeMajor === 22 && nodeMinor >= 12) || nodeMajor > 22
const majors = [
  { major: 5, dir: 'core-v5', runs: requireEsm },
  { major: 6, dir: 'core', runs: requireEsm },
  { major: 7, dir: 'core-v7', runs: requireEsm && nodeMajor >= 22 },
]

function handlerRun(dir: string): string {
  const code = `
    const middy = require(${JSON.stringify(join(middyModules, dir))}).default
    const { m2mToken } = require('@tokenstash/middy')
    const provider = { key: 'cjs', getToken: async () => 'cjs-token', getTokenSet: async () => ({}), invalidate: async () => {}, stats: () => ({}) }
    const handler = middy(async (_event, context) => context.ordersApiToken).use(m2mToken({ fetchData: { ordersApiToken: provider } }))
    handler({}, { getRemainingTimeInMillis: () => 3000 }).then((t) => console.log(t))
  `
  return execFileSync(process.execPath, ['-e', code], { cwd: __dirname, encoding: 'utf8' }).trim()
}

describe('@tokenstash/middy from CommonJS', () => {
  it.each(majors.filter((m) => m.runs))(
    'should run a handler on Middy $major loaded with require',
    ({ dir }) => {
      expect(handlerRun(dir)).toBe('cjs-token')
    },
  )
})
