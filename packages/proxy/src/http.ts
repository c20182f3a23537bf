import type { IncomingMessage, ServerResponse } from 'node:http'
import type { TokenSet } from '@tokenstash/core'
import type { IncomingTokenRequest } from './request'
import { type ProxyResponse, renderedToken, tokenHitHeaders } from './responses'

// node:http in and out, kept lean: this is the proxy's hot path. A body over the limit is not
// kept: the rest is read and dropped (up to a bound, so a client streaming forever is cut off)
// and the answer closes the connection.

const DRAIN_LIMIT_BYTES = 1024 * 1024
const EMPTY = Buffer.alloc(0)

/** The proxy's view of a node:http request, handed to `done` with `res` once the body is read. */
export function fromNodeRequest(
  req: IncomingMessage,
  res: ServerResponse,
  maxBodyBytes: number,
  done: (request: IncomingTokenRequest, res: ServerResponse) => void,
): void {
  // Node builds req.headers for every request anyway (ServerResponse reads `te`).
  const headers = req.headers as Record<string, string | undefined>
  const declared = Number(headers['content-length'])
  let tooLarge = Number.isFinite(declared) && declared > maxBodyBytes
  let chunks: Buffer[] | undefined
  let first: Buffer | undefined
  let size = 0
  let finished = false
  const finish = () => {
    if (finished) return
    finished = true
    const url = req.url ?? '/'
    const q = url.indexOf('?')
    done(
      {
        method: req.method ?? 'GET',
        path: q < 0 ? url : url.slice(0, q),
        query: q < 0 ? '' : url.slice(q + 1),
        // Node joins repeated headers with ', ' (set-cookie aside, which a token request has no use for).
        headers,
        body: tooLarge ? undefined : chunks ? Buffer.concat(chunks) : (first ?? EMPTY),
      },
      res,
    )
  }
  req.on('data', (chunk: Buffer) => {
    size += chunk.length
    if (size > maxBodyBytes) tooLarge = true
    if (tooLarge) {
      if (size > maxBodyBytes + DRAIN_LIMIT_BYTES) {
        req.destroy()
        finish()
      }
      return
    }
    if (first === undefined) first = chunk
    else {
      chunks ??= [first]
      chunks.push(chunk)
    }
  })
  req.on('end', finish)
  // A client that resets mid-body sent an incomplete request: nothing of it goes anywhere, and
  // there is no one left to answer.
  req.on('error', () => {
    finished = true
  })
}

export function writeNodeResponse(res: ServerResponse, answer: ProxyResponse, close: boolean): void {
  if (res.headersSent || res.destroyed) return
  const headers = answer.headers
  headers['content-length'] = String(Buffer.byteLength(answer.body))
  if (close) headers.connection = 'close'
  res.writeHead(answer.status, headers)
  res.end(answer.body)
}

/** A cache hit, written straight from the rendered token: the same bytes as `tokenAnswer`'s. */
export function writeTokenHit(res: ServerResponse, set: TokenSet, expiresIn: number): void {
  if (res.headersSent || res.destroyed) return
  const rendered = renderedToken(set)
  const seconds = String(expiresIn)
  res.writeHead(200, tokenHitHeaders(rendered.bytes + seconds.length))
  res.end(rendered.head + seconds + rendered.tail)
}
