import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net'
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy'

// The fault proxy the reliability scenarios rely on: each mode does what it says, for new
// connections and for open ones.

let echo: Server
let proxy: TcpProxy
const sockets = new Set<Socket>()
const echoSockets = new Set<Socket>()

// A fresh echo server and proxy per test: no test sees another's connections.
beforeEach(async () => {
  echo = createServer((s) => {
    echoSockets.add(s)
    s.on('error', () => {})
    s.pipe(s)
  })
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', () => resolve()))
  proxy = await startTcpProxy((echo.address() as AddressInfo).port)
})

afterEach(async () => {
  for (const s of sockets) s.destroy()
  sockets.clear()
  await proxy.stop()
  for (const s of echoSockets) s.destroy()
  echoSockets.clear()
  await new Promise((resolve) => echo.close(resolve))
})

function open(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(proxy.port, '127.0.0.1', () => resolve(s))
    sockets.add(s)
    s.once('error', reject)
    // Later errors (a write after a reset) are what the tests provoke, not failures.
    s.on('error', () => {})
  })
}

/** What happens to one line sent on `s`: its echo, an error code, the end of the stream, or nothing in `ms`. */
function roundTrip(s: Socket, ms = 300): Promise<string> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('silence'), ms)
    const done = (what: string) => {
      clearTimeout(timer)
      resolve(what)
    }
    s.once('data', (d) => done(`echo:${d}`))
    s.once('error', (e: NodeJS.ErrnoException) => done(e.code ?? 'error'))
    s.once('end', () => done('end'))
    s.write('ping')
  })
}

describe('startTcpProxy', () => {
  it('should pass bytes both ways', async () => {
    expect(await roundTrip(await open())).toBe('echo:ping')
    expect(proxy.open()).toBe(1)
  })

  it('should delay each chunk and keep their order across a switch back to pass', async () => {
    const s = await open()
    proxy.setAll('delay', 150)
    const started = Date.now()
    const chunks: string[] = []
    s.on('data', (d) => chunks.push(String(d)))
    s.write('a')
    await new Promise((r) => setTimeout(r, 20))
    proxy.setAll('pass')
    s.write('b')
    while (chunks.join('') !== 'ab' && Date.now() - started < 5_000)
      await new Promise((r) => setTimeout(r, 10))
    expect(chunks.join('')).toBe('ab')
    expect(Date.now() - started).toBeGreaterThanOrEqual(100)
  })

  it('should blackhole open connections: nothing is answered, nothing is closed', async () => {
    const s = await open()
    proxy.applyToOpen('blackhole')
    expect(await roundTrip(s)).toBe('silence')
    // New connections are not affected by applyToOpen.
    expect(await roundTrip(await open())).toBe('echo:ping')
  })

  it('should reset or cut open connections, and refuse new ones in those modes', async () => {
    const a = await open()
    const reset = roundTrip(a, 2_000)
    proxy.applyToOpen('reset')
    expect(await reset).toBe('ECONNRESET')
    const b = await open()
    const cut = roundTrip(b, 2_000)
    proxy.applyToOpen('cut')
    expect(await cut).toBe('end')
    proxy.setMode('reset')
    const refused = await open().then(
      (s) => roundTrip(s, 2_000),
      (e: NodeJS.ErrnoException) => e.code ?? 'error',
    )
    expect(refused).toBe('ECONNRESET')
  })
})
