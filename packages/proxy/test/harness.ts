// What the proxy's unit tests share: a proxy on a clock the test moves, and the Lambda event of a
// token request.
import { randomBytes } from 'node:crypto'
import type { TokenEvent } from '@tokenstash/core'
import { createTokenProxy, type LambdaHttpEvent, type TokenProxyOptions } from '@tokenstash/proxy'

export const T0 = 1_800_000_000_000

/**
 * A proxy for `upstream` on a clock the test moves (`clock.t`, from T0), recording its events in
 * `events`, without retries and with a fresh HMAC key; `options` go on top.
 */
export function proxyOnClock(upstream: string, options: Partial<TokenProxyOptions> = {}) {
  const clock = { t: T0 }
  const events: TokenEvent[] = []
  const proxy = createTokenProxy({
    upstream,
    hmacKey: randomBytes(32),
    now: () => clock.t,
    retry: { retries: 0 },
    onEvent: (e) => events.push(e),
    ...options,
  })
  return { proxy, clock, events }
}

/** An HTTP API (payload 2.0) event: a form POST (or `method`) to /oauth2/token with this Authorization. */
export function tokenRequestEvent(
  authorization: string,
  body: string,
  overrides: Partial<LambdaHttpEvent> = {},
  method = 'POST',
): LambdaHttpEvent {
  return {
    version: '2.0',
    rawPath: '/oauth2/token',
    rawQueryString: '',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization },
    requestContext: { http: { method, path: '/oauth2/token' } },
    body,
    isBase64Encoded: false,
    ...overrides,
  }
}
