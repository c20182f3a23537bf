import { attachToken } from '@tokenstash/axios'
import { ConfigError } from '@tokenstash/core'
import axios, { AxiosError } from 'axios'
import fc from 'fast-check'
import nock from 'nock'
import { fakeProvider } from './fake-provider'

// Options fuzzed at construction: attachToken either throws a ConfigError at once or installs
// interceptors that then send requests (answered, or failed with an AxiosError), never a crash later.

const API = 'https://api.example.com'

beforeAll(() => nock.disableNetConnect())
afterAll(() => {
  nock.cleanAll()
  nock.enableNetConnect()
})

const anything = fc.anything({ withBoxedValues: true, withMap: true, withSet: true, withNullPrototype: true })
const options = fc.oneof(
  anything,
  fc.record(
    {
      origins: fc.oneof(
        anything,
        fc.array(
          fc.oneof(
            fc.constantFrom(API, 'http://api.example.com', 'https://api.example.com:8443/x'),
            fc.string(),
          ),
          {
            maxLength: 3,
          },
        ),
      ),
      retryOn401: fc.oneof(
        fc.boolean(),
        fc.record({ methods: fc.oneof(anything, fc.array(fc.string(), { maxLength: 3 })) }),
        anything,
      ),
      retry: fc.oneof(
        fc.constant(false),
        fc.record({ retries: fc.oneof(fc.integer({ min: 0, max: 1 }), anything) }),
        anything,
      ),
    },
    { requiredKeys: [] },
  ),
)

describe('attachToken options (property)', () => {
  it('should throw a ConfigError at construction or serve requests without a crash', async () => {
    let built = 0
    await fc.assert(
      fc.asyncProperty(options, async (opts) => {
        const instance = axios.create({ baseURL: API })
        try {
          attachToken(instance, fakeProvider(), opts as Parameters<typeof attachToken>[2])
        } catch (err) {
          expect(err).toBeInstanceOf(ConfigError)
          return
        }
        built++
        nock(API).get('/orders/1').reply(200, { ok: true })
        try {
          // Bounded, so no request of a run outlives the test (it would meet the next file's nock).
          const res = await instance.get('/orders/1', {
            'axios-retry': { retries: 0 },
            timeout: 10_000,
          } as object)
          expect(res.status).toBe(200)
        } catch (err) {
          expect(err).toBeInstanceOf(AxiosError)
        } finally {
          nock.cleanAll()
        }
      }),
      { numRuns: 300 },
    )
    // Both outcomes were exercised: some options were accepted and then used.
    expect(built).toBeGreaterThan(10)
    // 300 requests through nock: 1.6 s alone, 7 s inside the full suite (after many files in the same
    // worker), and past jest's 30 s on a loaded machine.
  }, 120_000)
})
