import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { builtinModules } from 'node:module'
import { join } from 'node:path'

// docs/architecture.md stays true: every code name it mentions (in backticks, and the camelCase
// or PascalCase names in its Mermaid diagrams) is exported by a package, declared in a package's
// source, a dependency in a package.json, a Node built-in, or a file in the repository.
const root = join(__dirname, '..')
const doc = readFileSync(join(root, 'docs', 'architecture.md'), 'utf8')
const packageDirs = readdirSync(join(root, 'packages')).filter((d) =>
  existsSync(join(root, 'packages', d, 'package.json')),
)
const manifests = packageDirs.map((d) =>
  JSON.parse(readFileSync(join(root, 'packages', d, 'package.json'), 'utf8')),
)

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  )
}
const src = packageDirs
  .flatMap((d) => sources(join(root, 'packages', d, 'src')))
  .map((f) => readFileSync(f, 'utf8'))

/** Names a package's entry points export: `export { a, type B } from`, `export function c`, … */
const exported = new Set(
  packageDirs.flatMap((d) =>
    ['index.ts', join('testing', 'index.ts')]
      .map((f) => join(root, 'packages', d, 'src', f))
      .filter(existsSync)
      .flatMap((f) => {
        const text = readFileSync(f, 'utf8')
        const lists = [...text.matchAll(/export\s+(?:type\s+)?\{([^}]*)\}/g)].flatMap((m) =>
          m[1]!.split(',').map(
            (n) =>
              n
                .replace(/^\s*type\s+/, '')
                .trim()
                .split(/\s+as\s+/)
                .pop()!,
          ),
        )
        const decls = [...text.matchAll(/export\s+(?:const|function|class|interface|type)\s+(\w+)/g)].map(
          (m) => m[1]!,
        )
        return [...lists, ...decls].filter(Boolean)
      }),
  ),
)
const dependencies = new Set(
  manifests.flatMap((m) => [m.name, ...Object.keys({ ...m.dependencies, ...m.peerDependencies })]),
)

/** Why `name` is real, or undefined when it is not. */
function whereIs(name: string): string | undefined {
  const bare = name.replace(/\(\)$/, '').replace(/\/$/, '')
  if (/^[\w.-]+\/[\w./-]+$/.test(bare) && !bare.startsWith('@'))
    return existsSync(join(root, bare)) ? 'file' : undefined
  if (bare.startsWith('@') || /^[a-z][\w-]*$/.test(bare)) {
    const pkg = bare.startsWith('@tokenstash/') ? bare.split('/').slice(0, 2).join('/') : bare
    const subpath = bare.slice(pkg.length)
    const manifest = manifests.find((m) => m.name === pkg)
    if (manifest) return manifest.exports[`.${subpath}`] ? 'package' : undefined
    if (dependencies.has(bare)) return 'dependency'
  }
  if (builtinModules.includes(bare.replace(/^node:/, ''))) return 'node built-in'
  const [head, ...members] = bare.split('.')
  if (!/^\w+$/.test(head!)) return undefined
  if (!exported.has(head!) && !src.some((s) => new RegExp(`\\b${head}\\??\\s*[:(]`).test(s))) return undefined
  for (const member of members)
    if (!src.some((s) => new RegExp(`\\b${member}\\??\\s*[:(]`).test(s))) return undefined
  return exported.has(head!) ? 'export' : 'declared in packages/*/src'
}

const prose = doc.replace(/```[\s\S]*?```/g, '')
const codeSpans = [...prose.matchAll(/`([^`\n]+)`/g)].map((m) => m[1]!)
const diagramNames = [...doc.matchAll(/```mermaid([\s\S]*?)```/g)].flatMap((m) =>
  [...m[1]!.matchAll(/\b(?:[a-z]+[A-Z]\w*|[A-Z][a-z]+[A-Z]\w*)\b/g)].map((n) => n[0]),
)

describe('docs/architecture.md', () => {
  it('should mention code names and draw both diagrams', () => {
    expect(codeSpans.length).toBeGreaterThan(20)
    expect(doc.match(/```mermaid/g)).toHaveLength(2)
  })

  it.each([...new Set([...codeSpans, ...diagramNames])])('should name something that exists: %s', (name) => {
    expect([name, whereIs(name) !== undefined]).toEqual([name, true])
  })

  it('should not pass a name that does not exist (the check is not a no-op)', () => {
    for (const name of [
      'createTokenCache',
      'packages/core/src/lease.ts',
      '@tokenstash/vault',
      'TokenProvider.fetchNow',
    ])
      expect([name, whereIs(name)]).toEqual([name, undefined])
  })

  it('should draw every package in the dependency diagram', () => {
    for (const m of manifests) expect([m.name, doc.includes(`${m.name}<br/>`)]).toEqual([m.name, true])
  })
})
