import type { Cacheable, IncomingTokenRequest } from './request'

// classify() is deterministic: the same bytes always get the same answer. A client repeating its
// request (the common case) skips parsing and the HMAC through this memo of cacheable requests,
// looked up by the Authorization header (or, without one, the body, which then holds the
// credentials) and compared byte for byte, so a hit builds no string. It lives in memory only,
// like the requests the sources keep.

/** Variants remembered per credential (scope sets, audiences, encodings); the oldest goes first. */
const PER_CREDENTIAL = 16
/**
 * A request larger than this (body, Authorization and query) is not remembered: a client
 * credentials request is a few hundred bytes, and a client sending large ones takes the full path.
 */
export const MEMO_MAX_REQUEST_BYTES = 2_048
/**
 * The memo's memory in all: past it the memo starts over, so that clients sending many distinct
 * requests (up to `maxBodyBytes` each) cannot make it hold `maxKeys` large bodies.
 */
export const MEMO_MAX_BYTES = 4 * 1024 * 1024

interface Remembered {
  authorization: string | undefined
  type: string | undefined
  query: string
  body: Buffer
  classified: Cacheable
}

function lookupKey(request: IncomingTokenRequest, body: Buffer): string {
  return request.headers.authorization || body.toString('latin1')
}

export class ClassificationMemo {
  readonly #lists = new Map<string, Remembered[]>()
  readonly #max: number
  #size = 0
  #bytes = 0

  /** At most `max` requests are remembered; past it the memo starts over. */
  constructor(max: number) {
    this.#max = max
  }

  recall(request: IncomingTokenRequest): Cacheable | undefined {
    const { body, headers, query } = request
    if (request.method !== 'POST' || body === undefined) return undefined
    const list = this.#lists.get(lookupKey(request, body))
    if (list === undefined) return undefined
    for (const r of list) {
      if (
        r.authorization === headers.authorization &&
        r.type === headers['content-type'] &&
        r.query === query &&
        r.body.equals(body)
      )
        return r.classified
    }
    return undefined
  }

  remember(request: IncomingTokenRequest, classified: Cacheable): void {
    const { body, headers, query } = request
    if (request.method !== 'POST' || body === undefined) return
    const bytes = body.length + (headers.authorization?.length ?? 0) + query.length
    if (bytes > MEMO_MAX_REQUEST_BYTES) return
    if (this.#size >= this.#max || this.#bytes + bytes > MEMO_MAX_BYTES) {
      this.#lists.clear()
      this.#size = 0
      this.#bytes = 0
    }
    const key = lookupKey(request, body)
    let list = this.#lists.get(key)
    if (list === undefined) {
      list = []
      this.#lists.set(key, list)
    }
    if (list.length >= PER_CREDENTIAL) list.shift()
    else this.#size++
    this.#bytes += bytes
    list.push({
      authorization: headers.authorization,
      type: headers['content-type'],
      query,
      // A copy: the request's buffer may be a view of memory Node reuses.
      body: Buffer.from(body),
      classified,
    })
  }
}
