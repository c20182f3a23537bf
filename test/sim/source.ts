import {
  clientCredentials,
  TokenEndpointError,
  TokenResponseError,
  type TokenSet,
  type TokenSource,
} from '@tokenstash/core'
import { int, type Rng } from '../support/prng'
import type { SimClock } from './clock'

// The identity provider of the simulation: one per key. Every token is an opaque unique string
// whose key, issuedAt and expiresAt the simulator remembers, so the checker knows what each token
// served is. A source answers per a script first, then per the fault windows the schedule opened,
// then healthy, each after a seeded latency on the virtual clock (a ref'd timer, like a socket).

/** What one token request gets back. */
export type Outcome =
  | 'ok'
  /** A token, after 2-8 s. */
  | 'slow'
  | '5xx'
  /** 429 without Retry-After (Cognito may send none). */
  | '429'
  /** 429 with Retry-After (1-3 s, or the script's). */
  | '429ra'
  | 'invalid_client'
  /** 200 with an HTML page instead of a token response. */
  | 'garbage'
  /** 200 with JSON that is no token response (custom source: a TokenSet without a token). */
  | 'malformed'
  /** The connection failed. */
  | 'network'
  /** The connection failed with an error holding a circular reference (agents, proxies do that). */
  | 'circular'

export interface Scripted {
  outcome: Outcome
  latencyMs?: number
  retryAfterMs?: number
}

export interface Issued {
  key: number
  /** Sequence number, for messages: tokens themselves never go into a message. */
  n: number
  issuedAt: number
  expiresAt: number
  lifetimeMs: number
}

export interface Request {
  key: number
  at: number
  outcome: Outcome
}

export interface SourceWorld {
  clock: SimClock
  rng: Rng
  /** Every token any source issued. */
  issued: Map<string, Issued>
  requests: Request[]
  /** Called as each request is sent, so the checker can look at the time it is sent at. */
  onRequest(request: Request): void
  trace(event: string): void
}

export interface SourceSpec {
  key: number
  lifetimeMs: number
  latencyMs: readonly [number, number]
  script: Scripted[]
  /** Fault windows opened by the schedule: [from, to) virtual ms with the outcome they force. */
  faults: { from: number; to: number; outcome: Outcome }[]
  healthy: boolean
}

function decide(world: SourceWorld, spec: SourceSpec): Scripted {
  const scripted = spec.script.shift()
  if (scripted) return scripted
  if (!spec.healthy) {
    const now = world.clock.now()
    const open = spec.faults.find((f) => f.from <= now && now < f.to)
    if (open) return { outcome: open.outcome }
  }
  return { outcome: 'ok' }
}

/** One request is sent now: what it will get, recorded for the checker. */
function begin(world: SourceWorld, spec: SourceSpec): Scripted {
  const s = decide(world, spec)
  const request = { key: spec.key, at: world.clock.now(), outcome: s.outcome }
  world.requests.push(request)
  world.onRequest(request)
  world.trace(`k${spec.key}:request:${s.outcome}`)
  return s
}

function latency(world: SourceWorld, spec: SourceSpec, s: Scripted): number {
  if (s.latencyMs !== undefined) return s.latencyMs
  if (s.outcome === 'slow') return int(world.rng, 2_000, 8_000)
  return int(world.rng, spec.latencyMs[0], spec.latencyMs[1])
}

/**
 * A new token sent at true time `issuedAt`. The registry keeps true times; the TokenSet carries the
 * requesting instance's clock (`offsetMs` off true time), as a real source computes them.
 */
function mint(
  world: SourceWorld,
  spec: SourceSpec,
  issuedAt: number,
  offsetMs: number,
): { token: string; set: TokenSet } {
  const n = world.issued.size + 1
  const token = `sim-${spec.key}-${n}-${Math.floor(world.rng() * 2 ** 32).toString(36)}`
  const expiresAt = issuedAt + spec.lifetimeMs
  world.issued.set(token, { key: spec.key, n, issuedAt, expiresAt, lifetimeMs: spec.lifetimeMs })
  const set = {
    accessToken: token,
    tokenType: 'Bearer',
    issuedAt: issuedAt + offsetMs,
    expiresAt: expiresAt + offsetMs,
  }
  return { token, set }
}

function after<T>(ms: number, answer: () => T): Promise<Awaited<T>> {
  return new Promise((resolve, reject) =>
    setTimeout(() => {
      try {
        Promise.resolve(answer()).then(resolve as (v: unknown) => void, reject)
      } catch (err) {
        reject(err)
      }
    }, ms),
  )
}

function circularError(): Error {
  const err = new Error('socket hang up') as Error & { code: string; socket: { lastError?: Error } }
  err.code = 'ECONNRESET'
  err.socket = { lastError: err }
  return err
}

/** A custom TokenSource raising what the built-in sources raise, for an instance whose clock is `offsetMs` off. */
export function simSource(world: SourceWorld, spec: SourceSpec, offsetMs = 0): TokenSource {
  const endpoint = `https://idp-${spec.key}.sim/oauth2/token`
  return {
    id: `sim:${spec.key}`,
    fetchToken() {
      const issuedAt = world.clock.now()
      const s = begin(world, spec)
      return after(latency(world, spec, s), (): TokenSet => {
        const fail = (status: number | undefined, retryable: boolean, extra = {}) =>
          new TokenEndpointError(`Token endpoint ${endpoint} answered ${status ?? 'nothing'} (simulated)`, {
            endpoint,
            status,
            retryable,
            ...extra,
          })
        switch (s.outcome) {
          case 'ok':
          case 'slow':
            return mint(world, spec, issuedAt, offsetMs).set
          case '5xx':
            throw fail(503, true)
          case '429':
            throw fail(429, true)
          case '429ra':
            throw fail(429, true, { retryAfterMs: s.retryAfterMs ?? int(world.rng, 1, 3) * 1000 })
          case 'invalid_client':
            throw fail(401, false, { error: 'invalid_client' })
          case 'garbage':
            throw new TokenResponseError(`Token endpoint ${endpoint} answered 200 with HTML (simulated)`, {
              endpoint,
              status: 200,
              reason: 'not_json',
            })
          case 'malformed':
            return { accessToken: '', tokenType: 'Bearer', issuedAt, expiresAt: issuedAt }
          case 'network':
            throw fail(undefined, true, { cause: new Error('connect ECONNREFUSED') })
          case 'circular':
            // What a custom source that wraps its transport's error would raise.
            throw fail(undefined, true, { cause: circularError() })
        }
      })
    },
  }
}

/**
 * The real `clientCredentials` source over a simulated `fetch`: HTTP answers are parsed, classified
 * and wrapped by the production code. (Its per-request `AbortSignal.timeout` runs on the real
 * clock, so slow answers stay below its 10 s.)
 */
export function httpSource(world: SourceWorld, spec: SourceSpec, offsetMs = 0): TokenSource {
  const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
    new Response(JSON.stringify(body), {
      status,
      headers: { 'content-type': 'application/json', ...headers },
    })
  const fetch = async (): Promise<Response> => {
    const issuedAt = world.clock.now()
    const s = begin(world, spec)
    return after(latency(world, spec, s), () => {
      switch (s.outcome) {
        case 'ok':
        case 'slow':
          return json(200, {
            access_token: mint(world, spec, issuedAt, offsetMs).token,
            token_type: 'Bearer',
            expires_in: spec.lifetimeMs / 1000,
          })
        case '5xx':
          return new Response('<html>502 Bad Gateway</html>', { status: 502 })
        case '429':
          return json(429, { error: 'too_many_requests' })
        case '429ra':
          return json(
            429,
            { error: 'too_many_requests' },
            { 'retry-after': String(Math.ceil((s.retryAfterMs ?? int(world.rng, 1, 3) * 1000) / 1000)) },
          )
        case 'invalid_client':
          return json(401, { error: 'invalid_client', error_description: 'Client authentication failed' })
        case 'garbage':
          return new Response('<html>maintenance</html>', {
            status: 200,
            headers: { 'content-type': 'text/html' },
          })
        case 'malformed':
          return json(200, { token_type: 'Bearer', expires_in: 3600 })
        case 'network':
          throw new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } })
        case 'circular':
          throw circularError()
      }
    })
  }
  return clientCredentials({
    tokenEndpoint: `https://idp-${spec.key}.sim/oauth2/token`,
    clientId: `client-${spec.key}`,
    clientSecret: `sim-secret-${spec.key}`,
    now: () => world.clock.now() + offsetMs,
    fetch: fetch as typeof globalThis.fetch,
  })
}
