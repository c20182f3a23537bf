import { DEFAULTS as CORE, TokenstashError } from '@tokenstash/core'
import { DEFAULTS } from './defaults'
import { WarmError } from './errors'
import { type WarmerOptions, warmerConfig } from './options'

/**
 * What one round did for one provider. `fresh`: the stored token already lasts past the round's
 * horizon; `refreshed`: a new token is in the store (`by: 'warmer'` when this round fetched it,
 * `'fleet'` when another instance wrote it meanwhile); `failed`: a typed error (cooldowns are
 * honoured and reported as `RateLimitedError`); `skipped`: nobody used the key lately
 * (`onlyIfUsedWithinMs`), another instance holds the lease and is fetching, or the deadline came first.
 */
export type ProviderReport =
  | { status: 'fresh'; key: string; expiresAt?: number; refreshAt?: number }
  | {
      status: 'refreshed'
      key: string
      by: 'warmer' | 'fleet'
      expiresAt?: number
      refreshAt?: number
      /** The lifetime is too short for the schedule: the fleet refreshes before the next round anyway. */
      tooShort?: true
    }
  | { status: 'failed'; key: string; error: TokenstashError }
  | { status: 'skipped'; key: string; reason: 'unused' | 'refreshing-elsewhere' | 'deadline' }

/**
 * One round: each provider by its name, and the horizon the round made tokens last until.
 *
 * @example
 * ```ts
 * const { providers } = await warm()
 * if (providers.ordersApiToken?.status === 'failed') console.warn(providers.ordersApiToken.error.code)
 * ```
 */
export interface WarmReport {
  /** Epoch ms: stored tokens stay usable and before the fleet's refresh point until then. */
  until: number
  durationMs: number
  providers: Record<string, ProviderReport>
}

/**
 * What {@link createWarmer} returns.
 *
 * @example
 * ```ts
 * export const { handler } = createWarmer({ providers: { ordersApiToken }, intervalMs: 300_000 })
 * ```
 */
export interface Warmer {
  /**
   * A Lambda handler for an EventBridge Scheduler (or EventBridge rule) event: one round within the
   * invocation's time. Resolves with each provider's status; rejects with a `WarmError` when a
   * provider failed (so the failure shows in the function's Errors metric), after logging why.
   */
  handler(
    event: unknown,
    context?: { getRemainingTimeInMillis?: () => number },
  ): Promise<Record<string, string>>
  /** One round. `remainingTimeMs` bounds it (the handler passes the Lambda's). */
  warm(opts?: { remainingTimeMs?: number }): Promise<WarmReport>
}

/**
 * A scheduled member of the fleet whose only job is to refresh the shared tokens before anyone
 * needs to: each round makes every provider's stored token stay usable, and before the fleet's
 * (jittered) refresh point, until the next round plus a margin, taking the fleet's lease like any
 * instance. Runs no timer between rounds and keeps no process alive.
 *
 * @example
 * ```ts
 * import { cognito, createTokenProvider } from '@tokenstash/core'
 * import { createWarmer } from '@tokenstash/warmer'
 *
 * const ordersApiToken = createTokenProvider({ source: cognito({ domain, clientId, clientSecret }), store, encryptionKey })
 * export const { handler } = createWarmer({ providers: { ordersApiToken }, intervalMs: 5 * 60_000 })
 * ```
 */
export function createWarmer(options: WarmerOptions): Warmer {
  const c = warmerConfig(options)
  // No instance marked the key since before the last round (active instances mark once a minute):
  // nobody will reach a refresh point, so the token only has to stay usable (thrift).
  const idleAfterMs = CORE.useMarkEveryMs + c.intervalMs + c.marginMs

  async function warmOne(name: string, until: number, signal: AbortSignal): Promise<ProviderReport> {
    const provider = c.providers.find(([n]) => n === name)![1]
    const key = provider.key
    if (signal.aborted) return { status: 'skipped', key, reason: 'deadline' }
    try {
      const r = await provider.ensureFresh!({
        until,
        usedWithinMs: c.onlyIfUsedWithinMs,
        idleAfterMs,
        signal,
      })
      switch (r.outcome) {
        case 'fresh':
          return { status: 'fresh', key, expiresAt: r.expiresAt, refreshAt: r.refreshAt }
        case 'unused':
          return { status: 'skipped', key, reason: 'unused' }
        case 'held':
          return { status: 'skipped', key, reason: 'refreshing-elsewhere' }
        default: {
          const report: ProviderReport = {
            status: 'refreshed',
            key,
            by: r.outcome === 'refreshed' ? 'warmer' : 'fleet',
            expiresAt: r.expiresAt,
            refreshAt: r.refreshAt,
          }
          if (!r.idle && r.refreshAt !== undefined && r.refreshAt <= until) report.tooShort = true
          return report
        }
      }
    } catch (err) {
      if (err instanceof TokenstashError) return { status: 'failed', key, error: err }
      const deadline = signal.aborted
      return {
        status: 'failed',
        key,
        error: new WarmError(
          deadline
            ? `Warming ${name} (${key}) did not finish before the invocation's deadline`
            : `Warming ${name} (${key}) failed with an error that is not a tokenstash error (see cause)`,
          { reason: deadline ? 'deadline' : 'provider-error', providerNames: [name], cause: err },
        ),
      }
    }
  }

  async function warm(opts: { remainingTimeMs?: number } = {}): Promise<WarmReport> {
    const started = c.now()
    const until = started + c.intervalMs + c.marginMs
    const controller = new AbortController()
    // Ref'd on purpose (a waiting round depends on it) and cleared when the round ends.
    const budget =
      opts.remainingTimeMs === undefined ? undefined : opts.remainingTimeMs - DEFAULTS.deadlineMarginMs
    const timer =
      budget === undefined || budget <= 0 ? undefined : setTimeout(() => controller.abort(), budget)
    if (budget !== undefined && budget <= 0) controller.abort()
    const names = c.providers.map(([n]) => n)
    const providers: Record<string, ProviderReport> = {}
    let next = 0
    const worker = async () => {
      while (next < names.length) {
        const name = names[next++]!
        providers[name] = await warmOne(name, until, controller.signal)
      }
    }
    try {
      await Promise.all(Array.from({ length: Math.min(c.concurrency, names.length) }, worker))
    } finally {
      clearTimeout(timer)
    }
    const ordered = Object.fromEntries(names.map((n) => [n, providers[n]!]))
    for (const [name, r] of Object.entries(ordered)) {
      if (r.status === 'failed')
        c.logger?.warn(`tokenstash warmer: ${name} (${r.key}) failed: ${r.error.message}`)
      if (r.status === 'refreshed' && r.tooShort) {
        c.logger?.warn(
          `tokenstash warmer: tokens of ${name} (${r.key}) live too short for a round every ${c.intervalMs} ms; ` +
            'the fleet will refresh some of them itself: run the schedule more often',
        )
      }
    }
    return { until, durationMs: c.now() - started, providers: ordered }
  }

  async function handler(
    _event: unknown,
    context?: { getRemainingTimeInMillis?: () => number },
  ): Promise<Record<string, string>> {
    const remainingTimeMs =
      typeof context?.getRemainingTimeInMillis === 'function' ? context.getRemainingTimeInMillis() : undefined
    const report = await warm({ remainingTimeMs })
    const failed = Object.entries(report.providers).filter(([, r]) => r.status === 'failed')
    if (failed.length) {
      throw new WarmError(`tokenstash warmer: ${failed.length} of ${c.providers.length} providers failed`, {
        reason: 'round-failed',
        providerNames: failed.map(([n]) => n),
      })
    }
    return Object.fromEntries(Object.entries(report.providers).map(([n, r]) => [n, r.status]))
  }

  return { handler, warm }
}
