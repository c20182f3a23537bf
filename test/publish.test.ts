import { execFile } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'

// What `changeset publish` would put on npm, checked offline for every folder under packages/:
// the metadata npm and provenance need, the licence in the tarball, publint and Are the Types
// Wrong clean (scripts/check-packages.mjs packs with `npm pack` and lints the tarballs).
// `npm test` builds first (scripts/setup.mjs --build); the tarballs hold dist/.
const root = join(__dirname, '..')
const REPO = 'git+https://github.com/tokenstash/tokenstash.git'
const packages = readdirSync(join(root, 'packages'))
  .filter((dir) => existsSync(join(root, 'packages', dir, 'package.json')))
  .sort()
const manifest = (dir: string) =>
  JSON.parse(readFileSync(join(root, 'packages', dir, 'package.json'), 'utf8'))

interface PackResult {
  dir: string
  name: string
  files: string[]
  publint: string[]
  attw: string[]
}

let results: PackResult[] = []

beforeAll(async () => {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [join(root, 'scripts', 'check-packages.mjs'), '--json'],
    { cwd: root, maxBuffer: 64 * 1024 * 1024 },
  ).catch((error: { stdout?: string }) => {
    // Non-zero exit when a package has problems: the JSON is still there, the tests below name them.
    if (!error.stdout) throw error
    return { stdout: error.stdout }
  })
  results = JSON.parse(stdout.trim().split('\n').pop()!)
}, 300_000)

describe('published packages', () => {
  it('should find every package under packages/', () => {
    expect(packages.length).toBeGreaterThanOrEqual(8)
    expect(results.map((r) => r.dir)).toEqual(packages)
  })

  it('should have an MIT LICENSE at the root and the same file in every package', () => {
    const licence = readFileSync(join(root, 'LICENSE'), 'utf8')
    expect(licence).toMatch(/^MIT License\n/)
    for (const dir of packages) {
      const own = join(root, 'packages', dir, 'LICENSE')
      expect([dir, existsSync(own) && readFileSync(own, 'utf8') === licence]).toEqual([dir, true])
    }
  })

  it.each(packages)('should give @tokenstash/%s the metadata npm and provenance need', (dir) => {
    const pkg = manifest(dir)
    expect(pkg).toMatchObject({
      name: `@tokenstash/${dir}`,
      license: 'MIT',
      repository: { type: 'git', url: REPO, directory: `packages/${dir}` },
      homepage: `https://github.com/tokenstash/tokenstash/tree/main/packages/${dir}#readme`,
      bugs: { url: 'https://github.com/tokenstash/tokenstash/issues' },
      publishConfig: { access: 'public', provenance: true },
    })
    expect(pkg.description).toEqual(expect.any(String))
    expect(pkg.keywords).toEqual(expect.arrayContaining(['oauth2', 'token']))
    expect(pkg.files).toEqual(expect.arrayContaining(['dist', 'README.md', 'LICENSE']))
  })

  it.each(packages)('should pack @tokenstash/%s with its licence, clean for publint and attw', (dir) => {
    const r = results.find((x) => x.dir === dir)!
    expect(r.files).toEqual(expect.arrayContaining(['LICENSE', 'README.md', 'package.json', 'dist/index.js']))
    // Nothing but dist/, the readme, the licence, the manifest and the files its `bin` names
    // (the proxy's committed shim, so a fresh clone links it before a build): no src/, no tests.
    const bin = manifest(dir).bin ?? {}
    const bins = (typeof bin === 'string' ? [bin] : Object.values<string>(bin)).map((f) =>
      f.replace(/^\.\//, ''),
    )
    expect(r.files).toEqual(expect.arrayContaining(bins))
    expect(
      r.files.filter(
        (f) => !f.startsWith('dist/') && ![...bins, 'LICENSE', 'README.md', 'package.json'].includes(f),
      ),
    ).toEqual([])
    expect({ dir, publint: r.publint, attw: r.attw }).toEqual({ dir, publint: [], attw: [] })
  })
})
