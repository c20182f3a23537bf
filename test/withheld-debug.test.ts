import { spawnSync } from 'node:child_process'

// The fetch and axios READMEs' "Seeing why a request got no token": silent by default, one line per
// origin on stderr with NODE_DEBUG=tokenstash. Built packages in a child process, as a user runs them
// (NODE_DEBUG is read when Node starts).
const code = `
  const { withToken } = require('@tokenstash/fetch')
  const provider = { getToken: async () => 'never-sent', invalidate: async () => {} }
  const apiFetch = withToken(async () => new Response('ok'), provider, { origins: ['https://api.example.com'] })
  ;(async () => {
    await apiFetch('https://other.example.com/a')
    await apiFetch('https://other.example.com/b')
    await apiFetch('https://api.example.com/c')
  })()
`

/** The child's stderr; it must exit 0 and print nothing on stdout. */
function stderrOf(env: Record<string, string>): string {
  const r = spawnSync(process.execPath, ['-e', code], {
    cwd: __dirname,
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', ...env },
  })
  expect(r.status).toBe(0)
  expect(r.stdout).toBe('')
  return r.stderr
}

describe('withheld-token debug line', () => {
  it('should be silent by default', () => {
    expect(stderrOf({})).toBe('')
  })

  it('should write one line per origin to stderr with NODE_DEBUG=tokenstash', () => {
    const lines = stderrOf({ NODE_DEBUG: 'tokenstash' }).trim().split('\n')
    expect(lines).toEqual([
      expect.stringMatching(
        /^TOKENSTASH \d+: @tokenstash\/fetch: no token sent to https:\/\/other\.example\.com: not in `origins` \(https:\/\/api\.example\.com\)/,
      ),
    ])
  })
})
