#!/usr/bin/env node
import { ConfigError, type TokenEvent, type TokenStore } from '@tokenstash/core'
import { version } from '../package.json'
import { type CliOptions, parseCliOptions, USAGE } from './cli-options'
import { createTokenProxy } from './proxy'

// tokenstash-proxy. stdout: one line when listening (or the usage / version asked for). stderr:
// one JSON object per line: { time, level, event, ... } with the provider's key (a hash), status,
// code and duration, never an upstream's message text (its error_description may repeat what a
// client sent), never a secret, a URL or a key. Degraded modes (the store failing, entries that
// cannot be opened, fetches without coordination) are one `warning` line per episode for all keys,
// with tokenstash's own text, and a `recovered` line when the store answers again. Requests the
// proxy or the upstream refused are summarised (one line per minute at most, and one on shutdown),
// not logged one by one.
// Exit codes: 0 after --help, --version or a drained shutdown; 2 for a configuration error (one
// line); 1 for a runtime failure, or when the drain deadline had to close connections.

/** How often refused requests are summarised, at most. */
const SUMMARY_INTERVAL_MS = 60_000

function log(level: 'info' | 'warn' | 'error', event: string, fields: Record<string, unknown> = {}): void {
  // JSON.stringify escapes every control character: nothing a client chose can start a line.
  process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level, event, ...fields })}\n`)
}

/** The fields of an event worth a line: no message text, ever. */
function eventFields(event: TokenEvent): Record<string, unknown> {
  const fields: Record<string, unknown> = { key: event.key }
  if (event.status !== undefined) fields.status = event.status
  if (event.code !== undefined) fields.code = event.code
  if (event.durationMs !== undefined) fields.durationMs = Math.round(event.durationMs)
  if (event.retryAt !== undefined) fields.retryAt = new Date(event.retryAt).toISOString()
  return fields
}

const LOGGED: Partial<Record<TokenEvent['type'], 'info' | 'warn' | 'error'>> = {
  fetch: 'info',
  refresh: 'info',
  error: 'warn',
  cooldown: 'warn',
}

/**
 * The proxy's logger (one for every key, fed by admitted keys only): its lines are tokenstash's own
 * text about the store and the fleet, never an upstream's or a client's words.
 */
const warnings = {
  warn: (message: string) => log('warn', 'warning', { message }),
  error: (message: string) => log('error', 'warning', { message }),
  info: (message: string) => log('info', 'recovered', { message }),
}

/** Counts refused answers by status; `flush` writes one line when there were any. */
function refusalSummary() {
  let counts: Record<string, number> = {}
  let total = 0
  return {
    count(status: number): void {
      if (status < 400) return
      counts[status] = (counts[status] ?? 0) + 1
      total++
    },
    flush(): void {
      if (total === 0) return
      log('warn', 'refused', { count: total, byStatus: counts, periodMs: SUMMARY_INTERVAL_MS })
      counts = {}
      total = 0
    },
  }
}

async function openStore(options: CliOptions): Promise<{ store?: TokenStore; close(): Promise<void> }> {
  if (options.redisUrl) {
    const { default: Redis } = await import('ioredis')
    const { redisStore } = await import('@tokenstash/store-redis')
    const client = new Redis(options.redisUrl, { lazyConnect: false, maxRetriesPerRequest: 1 })
    // Connection errors surface as store errors on requests; unhandled 'error' events would crash.
    client.on('error', () => undefined)
    return {
      store: redisStore({ client }),
      close: async () => {
        await client.quit().catch(() => client.disconnect())
      },
    }
  }
  if (options.dynamodbTable) {
    const { DynamoDBClient } = await import('@aws-sdk/client-dynamodb')
    const { dynamoDbStore } = await import('@tokenstash/store-dynamodb')
    const client = new DynamoDBClient({})
    return {
      store: dynamoDbStore({ client, tableName: options.dynamodbTable }),
      close: async () => client.destroy(),
    }
  }
  return { close: async () => undefined }
}

async function main(): Promise<void> {
  const parsed = parseCliOptions(process.argv.slice(2), process.env)
  if ('help' in parsed) {
    process.stdout.write(`${USAGE}\n`)
    return
  }
  if ('version' in parsed) {
    process.stdout.write(`${version}\n`)
    return
  }
  if ('error' in parsed) {
    process.stderr.write(`tokenstash-proxy: ${parsed.error}\n`)
    process.exit(2)
  }
  const summary = refusalSummary()
  const { store, close: closeStore } = await openStore(parsed)
  const proxy = createTokenProxy({
    upstream: parsed.upstream,
    hmacKey: parsed.hmacKey,
    ...(store ? { store, encryptionKey: parsed.encryptionKey } : {}),
    ...(!store && parsed.encryptionKey ? { encryptionKey: parsed.encryptionKey } : {}),
    // Only keys the upstream accepted produce events (the proxy holds the others' until then).
    onEvent: (event) => {
      const level = LOGGED[event.type]
      if (level) log(level, event.type, eventFields(event))
    },
    onAnswer: (status) => summary.count(status),
    logger: warnings,
  })
  const listener = await proxy.listen(parsed.port, parsed.host)
  const timer = setInterval(() => summary.flush(), SUMMARY_INTERVAL_MS)
  // The summary waits for no one: it must not keep a stopped process alive.
  timer.unref()
  let stopping = false
  const stop = (signal: string) => {
    if (stopping) return
    stopping = true
    const started = Date.now()
    proxy
      .close({ drainTimeoutMs: parsed.drainTimeoutSeconds * 1000 })
      .then(async ({ drained }) => {
        await closeStore()
        clearInterval(timer)
        summary.flush()
        log(drained ? 'info' : 'warn', 'stopped', { signal, drained, durationMs: Date.now() - started })
        process.exit(drained ? 0 : 1)
      })
      .catch(() => {
        log('error', 'stopped', { signal, drained: false })
        process.exit(1)
      })
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
  // Only now: a supervisor may send SIGTERM the moment it reads this line, and a signal with no
  // handler yet kills the process on the spot (no drain, exit by signal).
  process.stdout.write(`tokenstash-proxy listening on ${listener.url}\n`)
}

main().catch((err: unknown) => {
  // A ConfigError names the option and never its secret value; anything else is named by code only.
  if (err instanceof ConfigError) {
    process.stderr.write(`tokenstash-proxy: ${err.message.split('\n')[0]}\n`)
    process.exit(2)
  }
  const code = (err as { code?: unknown } | null)?.code
  log('error', 'failed', {
    error: err instanceof Error ? err.name : typeof err,
    ...(typeof code === 'string' && /^[A-Z_]{2,40}$/.test(code) ? { code } : {}),
  })
  process.exit(1)
})
