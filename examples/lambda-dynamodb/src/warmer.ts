// The scheduled warmer (`src/warmer.handler` in template.yaml): an EventBridge Scheduler schedule
// invokes it every WARMER_RATE_MINUTES; each round makes sure the token the API function reads from
// DynamoDB stays fresh until the next round, so no API invocation waits for Cognito.
import { createWarmer } from '@tokenstash/warmer'
import { ordersApiToken } from './tokens'

const minutes = Number(process.env.WARMER_RATE_MINUTES ?? '5')

/**
 * The warmer's Lambda handler and one round for local runs.
 *
 * @example
 * ```ts
 * const report = await warm() // { providers: { ordersApiToken: { status: 'refreshed', by: 'warmer', ... } } }
 * ```
 */
export const { handler, warm } = createWarmer({
  providers: { ordersApiToken },
  intervalMs: minutes * 60_000, // the schedule's rate (template.yaml: WarmerRateMinutes)
})
