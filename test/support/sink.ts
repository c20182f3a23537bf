import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { inspect } from 'node:util'
import { rejectionOf } from './rejection'

/** A running {@link startSink} server. */
export interface Sink {
  /** `http://127.0.0.1:<port>` */
  readonly url: string
  /** The headers of every request received, oldest first: what a host that must never see a token saw. */
  readonly headers: IncomingHttpHeaders[]
  /** Answer every request from now on with a redirect to `target` (with the request's path appended), or stop with `undefined`. */
  redirectTo(target: string | undefined, status?: 301 | 302 | 303 | 307 | 308): void
  /** Closes the server and its connections. Safe to call twice. */
  stop(): Promise<void>
}

/**
 * Starts a loopback server that records the headers it receives and answers `{"sink":true}`, or a
 * redirect when told to: the host on another origin that adapter tests check never sees a token.
 *
 * @example
 * ```ts
 * const sink = await startSink()
 * await api.get(`${sink.url}/collect`)
 * expect(sink.headers[0]?.authorization).toBeUndefined()
 * await sink.stop()
 * ```
 */
export async function startSink(): Promise<Sink> {
  const headers: IncomingHttpHeaders[] = []
  let redirect: { target: string; status: number } | undefined
  const sockets = new Set<Socket>()
  const server = createServer((req, res) => {
    headers.push(req.headers)
    req.resume()
    if (redirect) {
      res
        .writeHead(redirect.status, { location: `${redirect.target}${req.url ?? ''}`, 'content-length': 0 })
        .end()
      return
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"sink":true}')
  })
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  let stopped: Promise<void> | undefined
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    headers,
    redirectTo(target, status = 307) {
      redirect = target === undefined ? undefined : { target, status }
    },
    stop() {
      stopped ??= new Promise<void>((resolve) => {
        server.close(() => resolve())
        for (const socket of sockets) socket.destroy()
      })
      return stopped
    },
  }
}

/**
 * How each of `tokens` shows up in `error` when it is logged (`json`, `inspect`, `deep` for a full
 * `util.inspect` with hidden properties); empty when none does.
 *
 * @example
 * ```ts
 * expect(leaks(error, api.tokensSeen())).toEqual([])
 * ```
 */
export function leaks(error: unknown, tokens: string[]): string[] {
  const texts = {
    json: JSON.stringify(error),
    inspect: inspect(error),
    deep: inspect(error, { depth: Number.POSITIVE_INFINITY, showHidden: true }),
  }
  return Object.entries(texts).flatMap(([how, text]) =>
    tokens.filter((t) => text?.includes(t)).map(() => how),
  )
}

/**
 * A `rejected(promise)` for a test file: the error a request rejected with, checked at once for the
 * tokens `tokensSeen()` returns, and again in an `afterAll` against every token seen in the file
 * (tokens sent after the error included), once at least `atLeast.tokens` tokens were seen and
 * `atLeast.errors` errors caught (fewer means the file did not exercise what it should).
 * Fails the test when the promise fulfils.
 *
 * @example
 * ```ts
 * const rejected = useTokenFreeRejections<AxiosError>(() => api.tokensSeen(), { tokens: 6, errors: 9 })
 * expect((await rejected(client.get('/orders/1'))).response?.status).toBe(401)
 * ```
 */
export function useTokenFreeRejections<E = Error>(
  tokensSeen: () => string[],
  atLeast: { tokens: number; errors: number },
): (promise: Promise<unknown>) => Promise<E> {
  const thrown: unknown[] = []
  afterAll(() => {
    const tokens = tokensSeen()
    expect(tokens.length).toBeGreaterThanOrEqual(atLeast.tokens)
    expect(thrown.length).toBeGreaterThanOrEqual(atLeast.errors)
    for (const error of thrown) expect(leaks(error, tokens)).toEqual([])
  })
  return async (promise) => {
    const error = await rejectionOf<E>(promise)
    thrown.push(error)
    expect(leaks(error, tokensSeen())).toEqual([])
    return error
  }
}
