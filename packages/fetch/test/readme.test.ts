import { join } from 'node:path'
import { cognitoAndOrdersApi, describeReadmeExample } from '../../../test/support/readme'

// The README's first example is test/readme-example.ts (compared below, so they cannot drift), run
// here against Cognito's documented token endpoint and the API (nock).

describeReadmeExample('README example', join(__dirname, '..', 'README.md'), __dirname, () => {
  it('should get one token from Cognito and send it with every call to the API', async () => {
    const { cognito, api } = cognitoAndOrdersApi('/orders/42', 2)
    const { getOrder } = await import('./readme-example')
    expect(await getOrder('42')).toEqual({ id: 42 })
    expect(await getOrder('42')).toEqual({ id: 42 })
    expect(cognito.isDone()).toBe(true)
    expect(api.isDone()).toBe(true)
  })
})
