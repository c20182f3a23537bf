import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net'
import { listenOnLoopback } from './ports'

/**
 * What the proxy does to a connection:
 * - `pass`: forwards bytes both ways;
 * - `delay`: forwards bytes both ways, each chunk held `delayMs` first;
 * - `blackhole`: accepts bytes and forwards none, answers nothing (a half-dead socket, a frozen peer);
 * - `reset`: destroys the connection with a TCP RST (ECONNRESET on the client);
 * - `cut`: closes it cleanly (FIN; the client sees the end of the stream).
 */
export type ProxyMode = 'pass' | 'delay' | 'blackhole' | 'reset' | 'cut'

/** A loopback TCP proxy in front of one upstream port; see {@link startTcpProxy}. */
export interface TcpProxy {
  /** Port the proxy listens on (127.0.0.1). Point clients here instead of at the upstream. */
  readonly port: number
  readonly host: string
  /** Connections accepted since start. */
  accepted(): number
  /** Connections open now. */
  open(): number
  /** What new connections get from now on. `reset`/`cut` refuse them at once. */
  setMode(mode: ProxyMode, delayMs?: number): void
  /** Applies `mode` to every connection open now (and not to later ones). */
  applyToOpen(mode: ProxyMode, delayMs?: number): void
  /** Both: the open connections and the new ones. */
  setAll(mode: ProxyMode, delayMs?: number): void
  /** Closes the listener and every connection. Safe to call twice. */
  stop(): Promise<void>
}

interface Link {
  client: Socket
  upstream: Socket
  mode: ProxyMode
  delayMs: number
  tail: { client: Promise<void>; upstream: Promise<void> }
}

function forward(link: Link, from: 'client' | 'upstream', chunk: Buffer): void {
  const to = from === 'client' ? link.upstream : link.client
  if (link.mode !== 'pass' && link.mode !== 'delay') return
  // Chunks leave in the order they came, whatever the mode was when each arrived: a reply delayed
  // before a switch to `pass` is never overtaken by a later one (a Redis client would misread both).
  const dueAt = Date.now() + (link.mode === 'delay' ? link.delayMs : 0)
  link.tail[from] = link.tail[from].then(async () => {
    const wait = dueAt - Date.now()
    if (wait > 0) await new Promise((r) => setTimeout(r, wait))
    if (!to.destroyed && link.mode !== 'blackhole') to.write(chunk)
  })
}

function apply(link: Link, mode: ProxyMode, delayMs: number): void {
  link.mode = mode
  link.delayMs = delayMs
  if (mode === 'reset') {
    link.client.resetAndDestroy()
    link.upstream.destroy()
  } else if (mode === 'cut') {
    link.client.end()
    link.upstream.end()
  }
}

/**
 * Starts a TCP proxy on a free loopback port that forwards to `127.0.0.1:upstreamPort`, and can
 * delay, blackhole, reset or cut its connections on command — the faults a network puts between a
 * Lambda container and its store or identity provider. The upstream port may change between
 * restarts of the upstream; it is read on every new connection.
 *
 * @example
 * ```ts
 * const redis = await startRedis()
 * const proxy = await startTcpProxy(redis.port)
 * const client = new Redis(proxy.port, '127.0.0.1')
 * proxy.setAll('blackhole')   // every command hangs from now on, as with a frozen container's socket
 * await proxy.stop()
 * ```
 */
export async function startTcpProxy(upstreamPort: number | (() => number)): Promise<TcpProxy> {
  const upstreamOf = typeof upstreamPort === 'function' ? upstreamPort : () => upstreamPort
  const links = new Set<Link>()
  let mode: ProxyMode = 'pass'
  let delayMs = 0
  let accepted = 0

  // Every socket the proxy holds, refused ones included, so stop() leaves nothing open: clients
  // are tracked as connections of the server, upstream sockets by hand.
  let hold: (socket: Socket) => void = () => {}
  const server: Server = createServer((client) => {
    accepted++
    client.setNoDelay(true)
    if (mode === 'reset') {
      client.resetAndDestroy()
      return
    }
    if (mode === 'cut') {
      client.end()
      return
    }
    const upstream = tcpConnect(upstreamOf(), '127.0.0.1')
    hold(upstream)
    upstream.setNoDelay(true)
    const link: Link = {
      client,
      upstream,
      mode,
      delayMs,
      tail: { client: Promise.resolve(), upstream: Promise.resolve() },
    }
    links.add(link)
    client.on('data', (chunk: Buffer) => forward(link, 'client', chunk))
    upstream.on('data', (chunk: Buffer) => forward(link, 'upstream', chunk))
    // An upstream that goes away is passed on as a reset, as a dead server's kernel would do;
    // a blackholed link stays silent whatever happens behind it.
    const drop = () => {
      links.delete(link)
      if (link.mode === 'blackhole') {
        upstream.destroy()
        return
      }
      if (link.mode === 'cut') client.end()
      else if (!client.destroyed) client.resetAndDestroy()
      upstream.destroy()
    }
    upstream.on('error', drop)
    upstream.on('close', drop)
    upstream.on('end', () => {
      if (link.mode !== 'blackhole') client.end()
    })
    client.on('error', () => upstream.destroy())
    client.on('close', () => {
      links.delete(link)
      upstream.destroy()
    })
    client.on('end', () => {
      if (link.mode !== 'blackhole') upstream.end()
    })
  })
  const listener = await listenOnLoopback(server)
  hold = listener.track
  const { port } = listener

  const proxy: TcpProxy = {
    port,
    host: '127.0.0.1',
    accepted: () => accepted,
    open: () => links.size,
    setMode(next, ms = 0) {
      mode = next
      delayMs = ms
    },
    applyToOpen(next, ms = 0) {
      for (const link of [...links]) apply(link, next, ms)
    },
    setAll(next, ms = 0) {
      proxy.setMode(next, ms)
      proxy.applyToOpen(next, ms)
    },
    stop() {
      links.clear()
      return listener.stop()
    },
  }
  return proxy
}
