import { type AddressInfo, createServer, type Server, type Socket } from 'node:net'

/** A free TCP port on 127.0.0.1, chosen by the OS at run time. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.unref()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address()
      srv.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      )
    })
  })
}

/** Resolves once something accepts TCP connections on host:port, or rejects after timeoutMs. */
export async function waitForPort(port: number, host = '127.0.0.1', timeoutMs = 10_000): Promise<void> {
  const { connect } = await import('node:net')
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const sock = connect(port, host)
      sock.once('connect', () => {
        sock.destroy()
        resolve(true)
      })
      sock.once('error', () => resolve(false))
    })
    if (ok) return
    if (Date.now() > deadline) throw new Error(`nothing listens on ${host}:${port} after ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** A test server listening on loopback, from {@link listenOnLoopback}. */
export interface LoopbackListener {
  port: number
  /** Adds a socket stop() must destroy (the server's own connections are added already). */
  track(socket: Socket): void
  /** Closes the server and destroys every tracked socket; the same promise on every call. */
  stop(): Promise<void>
}

/**
 * Listens on 127.0.0.1 at a port the OS picks, keeping every connection so stop() leaves nothing
 * open. The server is unref'd: a test that forgets stop() must not hang jest.
 *
 * @example
 * ```ts
 * const { port, stop } = await listenOnLoopback(createServer(handler))
 * ```
 */
export async function listenOnLoopback(server: Server): Promise<LoopbackListener> {
  const sockets = new Set<Socket>()
  const track = (socket: Socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  }
  server.on('connection', track)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  server.unref()
  let stopped: Promise<void> | undefined
  return {
    port: (server.address() as AddressInfo).port,
    track,
    stop() {
      stopped ??= new Promise<void>((resolve) => {
        server.close(() => resolve())
        for (const socket of sockets) socket.destroy()
      })
      return stopped
    },
  }
}
