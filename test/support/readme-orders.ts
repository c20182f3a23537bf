// The README example test the axios and fetch adapters share: their first example is the same
// `getOrder` against Cognito and the orders API, written with each adapter.
import { cognitoAndOrdersApi } from './readme'

/** What an adapter's README example exports. */
export interface OrdersExample {
  getOrder(id: string): Promise<unknown>
}

/**
 * The test of an adapter's README example (loaded by `load`): two calls of `getOrder('42')` get one
 * token from Cognito and send it with both calls to the API (nock, see `cognitoAndOrdersApi`).
 *
 * @example
 * ```ts
 * describeReadmeExample('README example', readmePath, __dirname, () => {
 *   itSendsOneCognitoTokenWithEveryCall(() => import('./readme-example'))
 * })
 * ```
 */
export function itSendsOneCognitoTokenWithEveryCall(load: () => Promise<OrdersExample>): void {
  it('should get one token from Cognito and send it with every call to the API', async () => {
    const { cognito, api } = cognitoAndOrdersApi('/orders/42', 2)
    const { getOrder } = await load()
    expect(await getOrder('42')).toEqual({ id: 42 })
    expect(await getOrder('42')).toEqual({ id: 42 })
    expect(cognito.isDone()).toBe(true)
    expect(api.isDone()).toBe(true)
  })
}
