import { execFileSync, spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { join, relative } from 'node:path'

// Every SAM/CloudFormation template in the repository passes cfn-lint (installed by
// `node scripts/setup.mjs --cfn-lint`, which `npm test` runs): a template a user deploys must not
// fail at `sam deploy` for a typo, a wrong attribute or an IAM statement CloudFormation rejects.
const root = join(__dirname, '..')

function templates(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    if (e.name === 'node_modules' || e.name.startsWith('.')) return []
    const p = join(dir, e.name)
    if (e.isDirectory()) return templates(p)
    return e.name === 'template.yaml' ? [p] : []
  })
}

describe('templates', () => {
  const found = templates(root)

  it('should find the examples’ templates', () => {
    expect(found.map((p) => relative(root, p)).sort()).toEqual(
      expect.arrayContaining([
        'examples/lambda-dynamodb/template.yaml',
        'examples/proxy-cognito/template.yaml',
      ]),
    )
  })

  it.each(found.map((p) => [relative(root, p)]))('should pass cfn-lint: %s', (file) => {
    const version = spawnSync('cfn-lint', ['--version'], { encoding: 'utf8' })
    if (version.status !== 0)
      throw new Error('cfn-lint is not on PATH: run `node scripts/setup.mjs --cfn-lint`')
    let out = ''
    try {
      execFileSync('cfn-lint', ['--format', 'parseable', '--', file], { cwd: root, encoding: 'utf8' })
    } catch (err) {
      out = String((err as { stdout?: string }).stdout ?? err)
    }
    expect(out).toBe('')
  })
})
