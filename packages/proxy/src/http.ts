import type { IncomingMessage, ServerResponse } from 'node:http'
import type { IncomingTokenRequest } from './request'
import type { ProxyResponse } from './responses'

// node:http in and out. A body over the limit is not kept: the rest is read and dropped (up to a
// bound, so a client streaming forever is cut off) and the answer closes the connection.

const DRAIN_LIMIT_BYTES = 1024 * 1024

function flatten(headers: IncomingMessage['headers']): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {}
  for (const [name, value] of Object.entries(headers))
    out[name] = Array.isArray(value) ? value.join(', ') : value
  return out
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const declared = Number(req.headers['content-length'])
    const chunks: Buffer[] = []
    let size = 0
    let tooLarge = Number.isFinite(declared) && declared > limit
    req.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > limit) tooLarge = true
      if (!tooLarge) chunks.push(chunk)
      else if (size > limit + DRAIN_LIMIT_BYTES) {
        req.destroy()
        resolve(undefined)
      }
    })
    req.on('end', () => resolve(tooLarge ? undefined : Buffer.concat(chunks)))
    req.on('error', () => resolve(undefined))
    req.on('close', () => resolve(tooLarge ? undefined : Buffer.concat(chunks)))
  })
}

/** The proxy's view of a node:http request. */
export async function fromNodeRequest(
  req: IncomingMessage,
  maxBodyBytes: number,
): Promise<IncomingTokenRequest> {
  const url = req.url ?? '/'
  const q = url.indexOf('?')
  const body = await readBody(req, maxBodyBytes)
  return {
    method: (req.method ?? 'GET').toUpperCase(),
    path: q < 0 ? url : url.slice(0, q),
    query: q < 0 ? '' : url.slice(q + 1),
    headers: flatten(req.headers),
    body,
  }
}

export function writeNodeResponse(res: ServerResponse, answer: ProxyResponse, close: boolean): void {
  if (res.headersSent || res.destroyed) return
  const headers: Record<string, string> = { ...answer.headers }
  if (close) headers.connection = 'close'
  res.writeHead(answer.status, headers)
  res.end(answer.body)
}
