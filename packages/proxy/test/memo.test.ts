import { ClassificationMemo, MEMO_MAX_BYTES, MEMO_MAX_REQUEST_BYTES } from '../src/memo'
import type { Cacheable, IncomingTokenRequest } from '../src/request'

const FORM = 'application/x-www-form-urlencoded'

function request(body: string, headers: Record<string, string> = {}, query = ''): IncomingTokenRequest {
  return { method: 'POST', path: '/oauth2/token', query, headers, body: Buffer.from(body) }
}
const cacheable = (key: string): Cacheable => ({ kind: 'cache', key, secrets: [] })

describe('ClassificationMemo', () => {
  it('should recall only a request with the same bytes in every part that classify reads', () => {
    const memo = new ClassificationMemo(100)
    const body = 'grant_type=client_credentials&scope=read'
    const seen = request(body, { 'content-type': FORM, authorization: 'Basic abc' })
    memo.remember(seen, cacheable('k1'))

    expect(memo.recall(request(body, { 'content-type': FORM, authorization: 'Basic abc' }))?.key).toBe('k1')
    const others = [
      request(body, { 'content-type': FORM, authorization: 'Basic abd' }),
      request(body, { 'content-type': FORM }),
      request(body, { 'content-type': FORM, authorization: '' }),
      request(body, { 'content-type': 'application/json', authorization: 'Basic abc' }),
      request(body, { authorization: 'Basic abc' }),
      request(body, { 'content-type': FORM, authorization: 'Basic abc' }, 'scope=write'),
      request(`${body} `, { 'content-type': FORM, authorization: 'Basic abc' }),
      { ...seen, method: 'GET' },
      { ...seen, body: undefined },
    ]
    for (const other of others) expect(memo.recall(other)).toBeUndefined()
  })

  it('should keep a request without Authorization apart from one whose header equals its body', () => {
    const memo = new ClassificationMemo(100)
    const text = 'grant_type=client_credentials&client_id=a&client_secret=b'
    memo.remember(request(text, { authorization: text }), cacheable('with-header'))
    expect(memo.recall(request(text))).toBeUndefined()
    memo.remember(request(text), cacheable('body-only'))
    expect(memo.recall(request(text))?.key).toBe('body-only')
    expect(memo.recall(request(text, { authorization: text }))?.key).toBe('with-header')
  })

  it('should stay bounded per credential and in all', () => {
    const memo = new ClassificationMemo(20)
    const auth = { authorization: 'Basic abc' }
    for (let i = 0; i < 17; i++) memo.remember(request(`scope=s${i}`, auth), cacheable(`k${i}`))
    // 16 variants per credential: the oldest went first.
    expect(memo.recall(request('scope=s0', auth))).toBeUndefined()
    expect(memo.recall(request('scope=s16', auth))?.key).toBe('k16')
    for (let i = 0; i < 4; i++) memo.remember(request(`b${i}`), cacheable(`b${i}`))
    expect(memo.recall(request('b3'))?.key).toBe('b3')
    // The 21st request starts the memo over.
    memo.remember(request('b4'), cacheable('b4'))
    expect(memo.recall(request('b0'))).toBeUndefined()
    expect(memo.recall(request('b4'))?.key).toBe('b4')
  })

  it('should not remember a request larger than MEMO_MAX_REQUEST_BYTES, and start over past MEMO_MAX_BYTES', () => {
    const memo = new ClassificationMemo(100_000)
    const auth = { authorization: 'Basic abc' }
    const big = `scope=${'a'.repeat(MEMO_MAX_REQUEST_BYTES)}`
    memo.remember(request(big, auth), cacheable('big'))
    expect(memo.recall(request(big, auth))).toBeUndefined()

    // Distinct credentials with requests just under the limit: the memo holds at most MEMO_MAX_BYTES.
    const body = 's'.repeat(MEMO_MAX_REQUEST_BYTES - 64)
    const perRequest = body.length + 'Basic 00000'.length
    const fit = Math.floor(MEMO_MAX_BYTES / perRequest)
    for (let i = 0; i < fit; i++)
      memo.remember(
        request(body, { authorization: `Basic ${String(i).padStart(5, '0')}` }),
        cacheable(`k${i}`),
      )
    expect(memo.recall(request(body, { authorization: 'Basic 00000' }))?.key).toBe('k0')
    memo.remember(request(body, { authorization: 'Basic next!' }), cacheable('next'))
    expect(memo.recall(request(body, { authorization: 'Basic 00000' }))).toBeUndefined()
    expect(memo.recall(request(body, { authorization: 'Basic next!' }))?.key).toBe('next')
  })
})
