import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

// Proves what users get from npm: every package's built entry points load with `require` and
// with `import` through its `exports` map, export the same names, and ship declarations.
// `npm test` builds first (scripts/setup.mjs --build).
const root = join(__dirname, '..')
const packages = readdirSync(join(root, 'packages')).filter((p) =>
  existsSync(join(root, 'packages', p, 'package.json')),
)

function names(entry: string, mode: 'require' | 'import'): string[] {
  const code =
    mode === 'require'
      ? `console.log(JSON.stringify(Object.keys(require(${JSON.stringify(entry)})).sort()))`
      : `import(${JSON.stringify(entry)}).then((m) => console.log(JSON.stringify(Object.keys(m).filter((k) => k !== 'default').sort())))`
  // Resolved from test/, whose package.json depends on every workspace package.
  const out = execFileSync(process.execPath, ['-e', code], {
    cwd: __dirname,
    encoding: 'utf8',
    env: { ...process.env, NODE_NO_WARNINGS: '1' },
  })
  return JSON.parse(out.trim().split('\n').pop()!)
}

describe('built packages', () => {
  it.each(packages)(
    'should load @tokenstash/%s with require and import, with the same exports and declarations',
    (dir) => {
      const pkg = JSON.parse(readFileSync(join(root, 'packages', dir, 'package.json'), 'utf8'))
      for (const [sub, target] of Object.entries<Record<string, Record<string, string>> | string>(
        pkg.exports,
      )) {
        if (typeof target === 'string') continue
        const entry = sub === '.' ? pkg.name : `${pkg.name}/${sub.slice(2)}`
        for (const file of [
          target.import!.default!,
          target.import!.types!,
          target.require!.default!,
          target.require!.types!,
        ]) {
          expect([entry, existsSync(join(root, 'packages', dir, file))]).toEqual([entry, true])
        }
        const cjs = names(entry, 'require')
        const esm = names(entry, 'import')
        expect(cjs.length).toBeGreaterThan(0)
        expect(esm).toEqual(cjs)
      }
    },
  )

  it('should expose only the public entry points', () => {
    for (const dir of packages) {
      const pkg = JSON.parse(readFileSync(join(root, 'packages', dir, 'package.json'), 'utf8'))
      const expected = dir === 'core' ? ['.', './package.json', './testing'] : ['.', './package.json']
      expect([dir, Object.keys(pkg.exports).sort()]).toEqual([dir, expected])
    }
  })

  it('should export the DESIGN.md surface of core', () => {
    const core = names('@tokenstash/core', 'require')
    for (const name of [
      'createTokenProvider',
      'clientCredentials',
      'auth0',
      'cognito',
      'cognitoGetClientToken',
      'memoryStore',
      'DEFAULTS',
      'TokenstashError',
      'ConfigError',
      'TokenEndpointError',
      'TokenResponseError',
      'StoreError',
      'RateLimitedError',
    ]) {
      expect(core).toContain(name)
    }
    expect(names('@tokenstash/core/testing', 'import')).toEqual(['fakeTokenProvider', 'runStoreContract'])
  })

  it('should sign private_key_jwt assertions from both builds without loading a JOSE library', () => {
    // Store entries and client assertions are written with node:crypto: a Lambda bundle carried
    // jose for them (61 KB whole, 15 KB tree-shaken).
    const dist = join(root, 'packages', 'core', 'dist')
    for (const index of ['index.js', 'index.cjs']) {
      const code = readFileSync(join(dist, index), 'utf8')
      expect([index, /['"]jose['"]/.test(code)]).toEqual([index, false])
    }
    for (const mode of ['require', 'import'] as const) {
      const load =
        mode === 'require' ? "Promise.resolve(require('@tokenstash/core'))" : "import('@tokenstash/core')"
      const code = `${load}.then(async (c) => {
        const { generateKeyPairSync } = require('node:crypto')
        const privateKey = { ...generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' }), alg: 'ES256' }
        let assertion
        const fetch = async (_url, init) => {
          assertion = new URLSearchParams(String(init.body)).get('client_assertion')
          return new Response(JSON.stringify({ access_token: 'a', token_type: 'Bearer', expires_in: 60 }), { headers: { 'content-type': 'application/json' } })
        }
        const source = c.clientCredentials({ tokenEndpoint: 'https://as.example/token', clientId: 'c', privateKey, fetch })
        await source.fetchToken()
        console.log(assertion.split('.').length)
      })`
      const out = execFileSync(process.execPath, ['-e', code], { cwd: __dirname, encoding: 'utf8' })
      expect([mode, out.trim()]).toEqual([mode, '3'])
    }
  })

  it('should leave discovery and private_key_jwt out of a bundle that uses cognito() or auth0() only', async () => {
    // Bundled as a Lambda user would (esbuild, minified, ESM) from the published dist. The markers
    // are strings only discovery and the assertion signer hold; clientCredentials keeps both.
    const { build } = await import('esbuild')
    const bundle = async (code: string) => {
      const r = await build({
        stdin: { contents: code, resolveDir: __dirname, loader: 'js' },
        bundle: true,
        minify: true,
        format: 'esm',
        platform: 'node',
        target: 'node20',
        write: false,
        tsconfigRaw: '{}',
        logLevel: 'silent',
      })
      const text = r.outputFiles[0]!.text
      return {
        discovery: text.includes('oauth-authorization-server'),
        assertion: text.includes('PS256'),
        bytes: text.length,
      }
    }
    const lean = (call: string) =>
      bundle(`import { ${call.split('(')[0]}, createTokenProvider } from '@tokenstash/core'
        export const p = createTokenProvider({ source: ${call} })`)
    const cognito = await lean(
      "cognito({ domain: 'x.auth.eu-west-1.amazoncognito.com', clientId: 'c', clientSecret: 's' })",
    )
    const auth0 = await lean(
      "auth0({ domain: 't.eu.auth0.com', clientId: 'c', clientSecret: 's', audience: 'a' })",
    )
    const generic = await lean(
      "clientCredentials({ tokenEndpoint: 'https://as.example/token', clientId: 'c', clientSecret: 's' })",
    )
    expect(cognito).toMatchObject({ discovery: false, assertion: false })
    expect(auth0).toMatchObject({ discovery: false, assertion: false })
    expect(generic).toMatchObject({ discovery: true, assertion: true })
    expect(generic.bytes - cognito.bytes).toBeGreaterThan(4_000)
  })

  it.each(['import', 'require'] as const)(
    'should build a memory-only provider without loading node:crypto or WebCrypto (%s)',
    (mode) => {
      // Loading node:crypto pulls in the stream machinery, and the CryptoKey global's getter loads
      // WebCrypto: a few milliseconds of every cold start. A provider without a shared store or
      // private_key_jwt needs crypto only for its key's hash, computed when first asked for.
      // An ES module entry: \`node -e\` (CommonJS) itself loads node:crypto before the first line.
      const load =
        mode === 'require'
          ? "import('node:module').then((m) => m.createRequire(process.cwd() + '/')('@tokenstash/core'))"
          : "import('@tokenstash/core')"
      const code = `const before = new Set(process.moduleLoadList)
        const loaded = () => process.moduleLoadList.filter((m) => !before.has(m) && /crypto/.test(m))
        ${load}.then((c) => {
          const p = c.createTokenProvider({
            source: c.cognito({ domain: 'x.auth.eu-west-1.amazoncognito.com', clientId: 'c', clientSecret: 's' }),
          })
          const atInit = loaded()
          console.log(JSON.stringify({ atInit, key: p.key, afterKey: loaded().length > 0 }))
        })`
      const out = execFileSync(process.execPath, ['--input-type=module', '-e', code], {
        cwd: __dirname,
        encoding: 'utf8',
      })
      const r = JSON.parse(out.trim().split('\n').pop()!)
      expect(r.atInit).toEqual([])
      // The key is still the namespace and 22 characters of base64url SHA-256 of the source id.
      expect(r.key).toMatch(/^default:[A-Za-z0-9_-]{22}$/)
      expect(r.afterKey).toBe(true)
    },
  )
})
