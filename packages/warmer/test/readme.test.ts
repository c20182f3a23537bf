import { join } from 'node:path'
import { cognitoAndOrdersApi, describeReadmeExample } from '../../../test/support/readme'

// The README's first example is test/readme-example.ts (compared below, so they cannot drift), run
// here as the scheduled function against Cognito's documented token endpoint (nock).

describeReadmeExample('README example', join(__dirname, '..', 'README.md'), __dirname, () => {
  it('should fetch once in the first round and find the token fresh in the next', async () => {
    const { cognito } = cognitoAndOrdersApi('/orders', 1)
    const { handler } = await import('./readme-example')
    const context = { getRemainingTimeInMillis: () => 30_000 }
    expect(await handler({ source: 'aws.scheduler' }, context)).toEqual({ ordersApiToken: 'refreshed' })
    expect(await handler({ source: 'aws.scheduler' }, context)).toEqual({ ordersApiToken: 'fresh' })
    expect(cognito.isDone()).toBe(true)
  })
})
