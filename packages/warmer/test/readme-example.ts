import { createWarmer } from '@tokenstash/warmer'
import { ordersApiToken } from './tokens' // the providers your functions use: same source, store, key

// Its own function, invoked by an EventBridge Scheduler schedule: rate(5 minutes). Each round makes
// sure the shared token stays fresh until the next one, so no invocation waits on the IdP.
export const { handler, warm } = createWarmer({
  providers: { ordersApiToken },
  intervalMs: 5 * 60_000, // the schedule's rate
})
