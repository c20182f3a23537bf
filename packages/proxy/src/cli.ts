#!/usr/bin/env node
import type { TokenStore } from '@tokenstash/core'
import { type CliOptions, parseCliOptions } from './cli-options'
import { createTokenProxy } from './proxy'

// tokenstash-proxy: one line when listening, one line on a fatal error, nothing else on stdout.
// SIGTERM/SIGINT stop accepting connections, let requests in flight finish, close the store
// client and exit 0.

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
  if ('error' in parsed) {
    process.stderr.write(`tokenstash-proxy: ${parsed.error}\n`)
    process.exit(2)
  }
  const { store, close: closeStore } = await openStore(parsed)
  const proxy = createTokenProxy({
    upstream: parsed.upstream,
    hmacKey: parsed.hmacKey,
    ...(store ? { store, encryptionKey: parsed.encryptionKey } : {}),
    ...(!store && parsed.encryptionKey ? { encryptionKey: parsed.encryptionKey } : {}),
    onEvent: (event) => {
      // Events hold no token or secret; only the ones an operator must see are printed.
      if (event.type === 'store-error' || event.type === 'store-recovered' || event.type === 'error')
        process.stderr.write(
          `tokenstash-proxy: ${event.type}${event.code ? ` ${event.code}` : ''}${event.message ? `: ${event.message}` : ''}\n`,
        )
    },
  })
  const listener = await proxy.listen(parsed.port, parsed.host)
  process.stdout.write(`tokenstash-proxy listening on ${listener.url}\n`)
  let stopping = false
  const stop = () => {
    if (stopping) return
    stopping = true
    proxy
      .close()
      .then(closeStore)
      .then(
        () => process.exit(0),
        () => process.exit(1),
      )
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}

main().catch((err: unknown) => {
  const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err)
  process.stderr.write(`tokenstash-proxy: ${message.split('\n')[0]}\n`)
  process.exit(1)
})
