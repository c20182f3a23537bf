import { runExample } from '../src/local'

// What `npm run example:proxy-cognito` runs and checks (miss, hit, shrinking expires_in, scopes
// apart, a wrong secret refused, the Lambda flavour on DynamoDB), with a shorter pause.

describe('examples/proxy-cognito', () => {
  it('should show misses, hits and a shrinking expires_in, over node:http and as a Lambda', async () => {
    const result = await runExample({ pauseMs: 1_100, log: () => undefined })
    expect(result.problems).toEqual([])
    expect(result.ok).toBe(true)
    expect(result.tokenRequests).toBe(3)
  })
})
