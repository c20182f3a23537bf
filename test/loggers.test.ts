import { randomBytes } from 'node:crypto'
import { Writable } from 'node:stream'
import { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger'
import { createTokenProvider, memoryStore, type TokenSource, type TokenStore } from '@tokenstash/core'
import pino from 'pino'

// Issue 18: the `logger` option takes pino and Powertools Logger as they are, with no adapter the
// user writes. Each is handed a store outage and a recovery; its own output must carry one warning
// and one info line at its own levels, with the message where each logger puts it, and no token.

const HOUR = 3_600_000

function source(): TokenSource & { served: string[] } {
  const served: string[] = []
  return {
    id: 'loggers-test',
    served,
    async fetchToken() {
      const accessToken = `tok-${randomBytes(12).toString('hex')}`
      served.push(accessToken)
      const issuedAt = Date.now()
      return { accessToken, tokenType: 'Bearer', issuedAt, expiresAt: issuedAt + HOUR }
    },
  }
}

/** A memory store that fails (like a refused connection) while `down` is set. */
function breakable(): { store: TokenStore; state: { down: boolean } } {
  const inner = memoryStore()
  const state = { down: false }
  const store = new Proxy(inner, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver)
      if (typeof value !== 'function') return value
      return (...args: unknown[]) => {
        if (state.down)
          return Promise.reject(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))
        return (value as (...a: unknown[]) => unknown).apply(target, args)
      }
    },
  })
  return { store, state }
}

/** An outage across five providers' first calls, then a recovery seen by the first. */
async function outageAndRecovery(logger: object): Promise<string[]> {
  const src = source()
  const { store, state } = breakable()
  let offset = 0
  const p = createTokenProvider({
    source: src,
    store,
    encryptionKey: randomBytes(32),
    logger: logger as never,
    now: () => Date.now() + offset,
    clockSkewToleranceMs: 0,
  })
  state.down = true
  for (let i = 0; i < 5; i++) await p.getToken({ forceRefresh: true })
  state.down = false
  // The tier waits storeRetryAfterMs (5 s) before it tries a failed store again: a forced refresh
  // after that reaches the store and reports the recovery.
  offset += 6_000
  await p.getToken({ forceRefresh: true })
  return src.served
}

describe('the logger option with real loggers', () => {
  it('should log through pino at warn (40) and info (30), message in `msg`', async () => {
    const out: string[] = []
    const destination = new Writable({
      write(chunk, _encoding, done) {
        out.push(...String(chunk).split('\n').filter(Boolean))
        done()
      },
    })
    const served = await outageAndRecovery(pino({ level: 'debug' }, destination))
    const records = out.map((l) => JSON.parse(l) as { level: number; msg: string })
    expect(records.map((r) => [r.level, r.msg.slice(0, 45)])).toEqual([
      [40, expect.stringContaining('tokenstash: the shared store is failing')],
      [30, expect.stringContaining('tokenstash: the shared store answers again')],
    ])
    for (const token of served) expect(out.join('\n')).not.toContain(token)
  })

  it('should log through Powertools Logger at WARN and INFO, message in `message`', async () => {
    const out: string[] = []
    // Powertools writes with a Console of its own: WARN to stderr, INFO to stdout.
    const capture = (chunk: unknown) => {
      out.push(...String(chunk).split('\n').filter(Boolean))
      return true
    }
    const spies = [
      jest.spyOn(process.stdout, 'write').mockImplementation(capture),
      jest.spyOn(process.stderr, 'write').mockImplementation(capture),
    ]
    let served: string[]
    try {
      served = await outageAndRecovery(new PowertoolsLogger({ serviceName: 'orders', logLevel: 'DEBUG' }))
    } finally {
      for (const spy of spies) spy.mockRestore()
    }
    const records = out
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { level: string; message: string; service: string })
    expect(records.map((r) => [r.level, r.service, r.message.slice(0, 45)])).toEqual([
      ['WARN', 'orders', expect.stringContaining('tokenstash: the shared store is failing')],
      ['INFO', 'orders', expect.stringContaining('tokenstash: the shared store answers again')],
    ])
    for (const token of served) expect(out.join('\n')).not.toContain(token)
  })
})
