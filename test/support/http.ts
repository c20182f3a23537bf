import type { ServerResponse } from 'node:http'

/**
 * Answers `res` with `body` as JSON: `status`, `content-type` and `content-length` set, `headers`
 * on top (e.g. `retry-after`, or another JSON content type).
 *
 * @example
 * ```ts
 * sendJson(res, 429, { error: 'slow_down' }, { 'retry-after': '2' })
 * ```
 */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body)
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  })
  res.end(text)
}
