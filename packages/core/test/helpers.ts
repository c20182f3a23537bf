import { randomBytes } from 'node:crypto'
import {
  createTokenProvider,
  TokenEndpointError,
  type TokenEvent,
  type TokenProviderOptions,
  type TokenSet,
  type TokenSource,
} from '@tokenstash/core'

/** One hour in milliseconds: the fake source's default token lifetime. */
export const HOUR = 3_600_000

/** A clock the test moves by hand. */
export function fakeClock(start = 1_700_000_000_000) {
  const clock = {
    t: start,
    now: () => clock.t,
    advance: (ms: number) => {
      clock.t += ms
    },
  }
  return clock
}

export interface FakeSource extends TokenSource {
  calls: number
  /** Make the next fetches fail with these errors, in order. */
  failWith: unknown[]
  /** Hold every fetch until released (for concurrency tests). */
  gate?: Promise<void>
  lifetimeMs: number
}

/** A TokenSource that counts requests and mints `tok-<n>` tokens on the given clock. */
export function fakeSource(
  now: () => number,
  { id = 'fake', lifetimeMs = HOUR, delayMs = 0 } = {},
): FakeSource {
  const src: FakeSource = {
    id,
    calls: 0,
    failWith: [],
    lifetimeMs,
    async fetchToken(): Promise<TokenSet> {
      src.calls++
      const n = src.calls
      const issuedAt = now()
      if (src.gate) await src.gate
      if (delayMs) await new Promise((r) => setTimeout(r, delayMs))
      const failure = src.failWith.shift()
      if (failure) throw failure
      return {
        accessToken: `tok-${n}-${id}`,
        tokenType: 'Bearer',
        issuedAt,
        expiresAt: issuedAt + src.lifetimeMs,
      }
    },
  }
  return src
}

/** What `fakeSource` takes besides the clock. */
export type FakeSourceOptions = NonNullable<Parameters<typeof fakeSource>[1]>

/**
 * A provider on `clock` (a fresh fake one by default) over a fresh fake source (`sourceOptions`),
 * recording its events in `ev`; `options` go on top (they may replace `source`, `now` or `onEvent`).
 */
export function clockedProvider(
  options: Partial<TokenProviderOptions> = {},
  sourceOptions: FakeSourceOptions = {},
  clock = fakeClock(),
) {
  const source = fakeSource(clock.now, sourceOptions)
  const ev = events()
  const p = createTokenProvider({ source, now: clock.now, onEvent: ev.onEvent, ...options })
  return { clock, source, ev, p }
}

/** A TokenEndpointError from endpoint `e` with this `status` (and fields); retryable without a status (a network error) or with 408, 429 or 5xx. */
export function endpointError(
  message: string,
  status?: number,
  fields: Partial<ConstructorParameters<typeof TokenEndpointError>[1]> = {},
): TokenEndpointError {
  const retryable = status === undefined || status === 408 || status === 429 || status >= 500
  return new TokenEndpointError(message, { endpoint: 'e', status, retryable, ...fields })
}

/** Records every event a provider reports, and lists their types. */
export function events() {
  const seen: TokenEvent[] = []
  return { seen, onEvent: (e: TokenEvent) => seen.push(e), types: () => seen.map((e) => e.type) }
}

export const key32 = () => randomBytes(32).toString('base64')

export const flush = () => new Promise((r) => setImmediate(r))

/** Resolves after `ms` of real time. */
export const pause = (ms: number) => new Promise((r) => setTimeout(r, ms))
