import { channel } from 'node:diagnostics_channel'

/**
 * The `node:diagnostics_channel` channel every provider publishes its {@link TokenEvent}s on, the
 * same events `onEvent` receives (with the provider's `key`), for every provider in the process.
 * Observability without wiring `onEvent` into each provider: an APM agent, a logger or a test can
 * subscribe once. Publishing costs nothing while nobody subscribes (the event is not even built).
 * A provider relays its source's events (`auth-method-fallback`) to the channel only if the channel
 * had a subscriber, or the provider an `onEvent`, when the provider was created. Events never hold
 * a token or a secret. As with any diagnostics channel, a subscriber that throws surfaces as an
 * uncaught exception (on the next tick); it does not affect token serving.
 *
 * @example
 * ```ts
 * import { subscribe } from 'node:diagnostics_channel'
 * import { EVENT_CHANNEL, type TokenEvent } from '@tokenstash/core'
 *
 * subscribe(EVENT_CHANNEL, (message) => {
 *   const event = message as TokenEvent
 *   if (event.type === 'error' || event.type === 'store-error') console.warn('tokenstash', event)
 * })
 * ```
 */
export const EVENT_CHANNEL = 'tokenstash:event'

/** The channel object, looked up once: `hasSubscribers` is then a field read on the warm path. */
export const eventChannel = channel(EVENT_CHANNEL)
