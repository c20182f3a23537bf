import { join } from 'node:path'
import nock from 'nock'
import { cognitoAndOrdersApi, expectReadmeExample } from '../../../test/support/readme'

// The README's first example is test/readme-example.ts (compared below, so they cannot drift), run
// here against Cognito's documented token endpoint and the API (nock).

describe('README example', () => {
  beforeAll(() => nock.disableNetConnect())
  afterAll(() => {
    nock.cleanAll()
    nock.enableNetConnect()
  })

  it('should be the code the README starts with', () => {
    expectReadmeExample(join(__dirname, '..', 'README.md'), join(__dirname, 'readme-example.ts'))
  })

  it('should get one token from Cognito and send it with every call to the API', async () => {
    const { cognito, api } = cognitoAndOrdersApi('/orders/42', 2)
    const { getOrder } = await import('./readme-example')
    expect(await getOrder('42')).toEqual({ id: 42 })
    expect(await getOrder('42')).toEqual({ id: 42 })
    expect(cognito.isDone()).toBe(true)
    expect(api.isDone()).toBe(true)
  })
})
