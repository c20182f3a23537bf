import { join } from 'node:path'
import { describeReadmeExample } from '../../../test/support/readme'
import { itSendsOneCognitoTokenWithEveryCall } from '../../../test/support/readme-orders'

// The README's first example is test/readme-example.ts (compared below, so they cannot drift), run
// here against Cognito's documented token endpoint and the API (nock).

describeReadmeExample('README example', join(__dirname, '..', 'README.md'), __dirname, () => {
  itSendsOneCognitoTokenWithEveryCall(() => import('./readme-example'))
})
