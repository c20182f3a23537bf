import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import nock from 'nock'

// A README starts with (or shows) a working example; its tests keep that example as a file they
// run. This reads both, ignoring only formatting, so a test can assert the README cannot drift
// from the tested code.

function firstTsBlock(markdownPath: string): string | undefined {
  return /```ts\n([\s\S]*?)```/.exec(readFileSync(markdownPath, 'utf8'))?.[1]
}

/** Code with whitespace and trailing commas removed: equal when only the formatting differs. */
function normaliseCode(code: string): string {
  return code.replace(/\s+/g, '').replace(/,(?=[}\])])/g, '')
}

/** The first ```ts block of `readmePath` and the file `examplePath`, both normalised. */
function readmeAndExample(readmePath: string, examplePath: string): { readme?: string; example: string } {
  const block = firstTsBlock(readmePath)
  return {
    readme: block === undefined ? undefined : normaliseCode(block),
    example: normaliseCode(readFileSync(examplePath, 'utf8')),
  }
}

/** Asserts that the first ```ts block of `readmePath` is the code of `examplePath`, formatting aside. */
export function expectReadmeExample(readmePath: string, examplePath: string): void {
  const { readme, example } = readmeAndExample(readmePath, examplePath)
  expect(readme).toBeDefined()
  expect(readme).toBe(example)
}

/**
 * What the adapters' README examples run against: the environment they read (a Cognito domain and
 * client) and nock scopes for Cognito's token endpoint (one request, with the client's Basic
 * credentials) and for `https://orders.example.com` answering `GET path` `times` times, only with
 * the Cognito token.
 *
 * @example
 * ```ts
 * const { cognito, api } = cognitoAndOrdersApi('/orders/42', 2)
 * expect(cognito.isDone() && api.isDone()).toBe(true)
 * ```
 */
export function cognitoAndOrdersApi(path: string, times: number, body: nock.Body = { id: 42 }) {
  process.env.COGNITO_DOMAIN = 'acme.auth.eu-west-1.amazoncognito.com'
  process.env.CLIENT_ID = 'orders-client'
  process.env.CLIENT_SECRET = 'orders-client-secret'
  const basic = `Basic ${Buffer.from('orders-client:orders-client-secret').toString('base64')}`
  const cognito = nock('https://acme.auth.eu-west-1.amazoncognito.com', {
    reqheaders: { authorization: basic },
  })
    .post('/oauth2/token', { grant_type: 'client_credentials' })
    .once()
    .reply(200, { access_token: 'cognito-access-token', token_type: 'Bearer', expires_in: 3600 })
  const api = nock('https://orders.example.com', {
    reqheaders: { authorization: 'Bearer cognito-access-token' },
  })
    .get(path)
    .times(times)
    .reply(200, body)
  return { cognito, api }
}

/**
 * Checks a README example's `listOrders()`: called twice, it gets `orders` both times from
 * `GET https://orders.example.com/v1/orders` (nock, answering only `Bearer <token>`), and the
 * identity provider's nock scope `idp` got every request it expects.
 *
 * @example
 * ```ts
 * await expectOrdersListedTwice(() => import('./readme-example'), cognito, 'cognito-access-token', [{ id: 1 }])
 * ```
 */
export async function expectOrdersListedTwice(
  loadExample: () => Promise<{ listOrders(): Promise<unknown> }>,
  idp: nock.Scope,
  token: string,
  orders: unknown[],
): Promise<void> {
  const api = nock('https://orders.example.com', { reqheaders: { authorization: `Bearer ${token}` } })
    .get('/v1/orders')
    .twice()
    .reply(200, orders)
  const { listOrders } = await loadExample()
  expect(await listOrders()).toEqual(orders)
  expect(await listOrders()).toEqual(orders)
  expect(idp.isDone()).toBe(true)
  expect(api.isDone()).toBe(true)
}

/**
 * The suite every README example test is: nock with no network, a first test that the README's
 * first ```ts block is `readme-example.ts` next to the test, then `tests` (running that file).
 *
 * @example
 * ```ts
 * describeReadmeExample('README example', join(__dirname, '..', 'README.md'), __dirname, () => {
 *   it('should get one token', async () => { ... })
 * })
 * ```
 */
export function describeReadmeExample(
  title: string,
  readmePath: string,
  testDir: string,
  tests: () => void,
): void {
  describe(title, () => {
    beforeAll(() => nock.disableNetConnect())
    afterAll(() => {
      nock.cleanAll()
      nock.enableNetConnect()
    })

    it('should be the code the README starts with', () => {
      expectReadmeExample(readmePath, join(testDir, 'readme-example.ts'))
    })

    tests()
  })
}
