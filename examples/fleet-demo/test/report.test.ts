import { elapsed, progressFilter, type Row, targetLines } from '../src/report'

// The demo's own wording, without running it (demo.test.ts runs it).
describe('fleet demo report', () => {
  it('should print no progress row before the first invocation, and none that repeats the last', () => {
    const keep = progressFilter()
    const at = (invocations: number, tokenRequests: number, containers: number) =>
      keep({ invocations, tokenRequests, containers })
    expect([at(0, 0, 0), at(0, 1, 1), at(5, 1, 1), at(5, 1, 1), at(9, 1, 2), at(9, 2, 2)]).toEqual([
      false,
      false,
      true,
      false,
      true,
      true,
    ])
  })

  it('should explain the target: one cold start, then one refresh per 0.75 of the lifetime, fleet-wide', () => {
    const ours = { tokenRequests: 5, runtimeMs: 12_000 } as Row
    const text = targetLines(ours, 4).join('\n')
    expect(text).toContain('tokenstash: 5 token requests in 12.0 s of traffic (wall clock).')
    expect(text).toContain('1 for the first cold start')
    expect(text).toContain('0.75 × the 4 s token lifetime = 3.0 s: 12.0 / 3.0 + 1 = 5.0.')
  })

  it('should say elapsed time as a person reads it', () => {
    expect([elapsed(42_300), elapsed(98_000)]).toEqual(['42 s', '1 min 38 s'])
  })
})
