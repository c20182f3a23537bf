import middy from '@middy/core'
import { ConfigError, TokenstashError } from '@tokenstash/core'
import { m2mToken } from '@tokenstash/middy'
import type { Context } from 'aws-lambda'
import fc from 'fast-check'
import nock from 'nock'
import { FakeProvider } from './fake-provider'
import { invoke, lambdaContext } from './lambda'

// Options fuzzed at construction: m2mToken either throws a ConfigError at once or builds a
// middleware that then serves invocations (or fails them with a typed error), never a crash later.

beforeAll(() => nock.disableNetConnect())
afterAll(() => nock.enableNetConnect())

const provider = new FakeProvider('orders')
const anything = fc.anything({ withBoxedValues: true, withMap: true, withSet: true, withNullPrototype: true })
/** Mostly a valid value, sometimes anything: so both construction outcomes are exercised. */
const mostly = <T>(valid: fc.Arbitrary<T>) =>
  fc.oneof({ arbitrary: valid, weight: 6 }, { arbitrary: anything, weight: 1 })
const options = fc.oneof(
  { arbitrary: anything, weight: 1 },
  {
    arbitrary: fc.record(
      {
        fetchData: mostly(
          fc.dictionary(
            fc.oneof(
              { arbitrary: fc.stringMatching(/^[A-Za-z_$][\w$]{0,11}$/), weight: 6 },
              { arbitrary: fc.string({ maxLength: 12 }), weight: 1 },
            ),
            mostly(fc.constant(provider)),
            { minKeys: 1, maxKeys: 3 },
          ),
        ),
        setToContext: mostly(fc.boolean()),
        disablePrefetch: mostly(fc.boolean()),
        remainingTimeMarginMs: mostly(
          fc.oneof(
            { arbitrary: fc.oneof(fc.integer({ min: 0, max: 5_000 }), fc.constant(false)), weight: 4 },
            fc.double(),
          ),
        ),
      },
      { requiredKeys: ['fetchData'] },
    ),
    weight: 4,
  },
)

describe('m2mToken options (property)', () => {
  it('should throw a ConfigError at construction or serve invocations without a crash', async () => {
    let built = 0
    await fc.assert(
      fc.asyncProperty(options, async (opts) => {
        let middleware: ReturnType<typeof m2mToken>
        try {
          middleware = m2mToken(opts as Parameters<typeof m2mToken>[0])
        } catch (err) {
          expect(err).toBeInstanceOf(ConfigError)
          return
        }
        built++
        const handler = middy(async (_event: unknown, context: Context) => Object.keys(context).length).use(
          middleware,
        )
        try {
          await invoke(handler, {}, lambdaContext())
        } catch (err) {
          expect(err).toBeInstanceOf(TokenstashError)
        }
      }),
      { numRuns: 300 },
    )
    // Both outcomes were exercised: some options were accepted and then used.
    expect(built).toBeGreaterThan(10)
  })
})
