import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { memoryStore, type TokenStore } from '@tokenstash/core'
import { createTokenProxy } from '@tokenstash/proxy'

// /healthz must probe what the service really uses, under the permissions it is deployed with:
// template.yaml allows DynamoDB items whose partition key matches `dynamodb:LeadingKeys`
// `${TokenNamespace}:*` only. A store that denies every other key stands in for that policy.

const template = readFileSync(join(__dirname, '..', 'template.yaml'), 'utf8')

function policyPattern(): RegExp {
  const leading = /dynamodb:LeadingKeys:\s*\n\s*-\s*!Sub\s+(\S+)/.exec(template)?.[1]
  const namespace = /TokenNamespace:\s*\n\s*Type: String\s*\n\s*Default:\s*(\S+)/.exec(template)?.[1]
  if (!leading || !namespace) throw new Error('template.yaml no longer has the LeadingKeys condition')
  const glob = leading.replace(/\$\{TokenNamespace\}/, namespace)
  return new RegExp(`^${glob.replace(/[.*+?^${}()|[\]\\]/g, (c) => (c === '*' ? '.*' : `\\${c}`))}$`)
}

describe('examples/proxy-cognito /healthz under the template’s IAM policy', () => {
  it('should report the store reachable when only the namespace’s keys are allowed', async () => {
    const allowed = policyPattern()
    const namespace = /TokenNamespace:\s*\n\s*Type: String\s*\n\s*Default:\s*(\S+)/.exec(template)![1]!
    const inner = memoryStore()
    const denied: string[] = []
    const guard = (key: string) => {
      if (allowed.test(key)) return undefined
      denied.push(key)
      return Promise.reject(new Error('AccessDeniedException'))
    }
    const store: TokenStore = {
      ...inner,
      get: (key, ...rest) => guard(key) ?? inner.get(key, ...rest),
      set: (key, ...rest) => guard(key) ?? inner.set(key, ...rest),
    }
    const proxy = createTokenProxy({
      upstream: 'https://pool.auth.eu-west-1.amazoncognito.com/oauth2/token',
      hmacKey: randomBytes(32),
      store,
      encryption: false,
      namespace,
    })
    const res = await proxy.lambdaHandler({
      version: '2.0',
      rawPath: '/healthz',
      requestContext: { http: { method: 'GET' } },
    })
    expect(JSON.parse(res.body)).toMatchObject({ status: 'ok', store: 'reachable' })
    expect(denied).toEqual([])
  })
})
