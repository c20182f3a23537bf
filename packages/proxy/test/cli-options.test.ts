import { randomBytes } from 'node:crypto'
import { parseCliOptions } from '../src/cli-options'

const KEY = randomBytes(32).toString('base64')
const env = { TOKENSTASH_HMAC_KEY: KEY }
const UPSTREAM = 'https://idp.example.com/oauth2/token'

describe('parseCliOptions', () => {
  it('should read flags, fall back to the environment, and default port and host', () => {
    expect(parseCliOptions(['--upstream', UPSTREAM], env)).toEqual({
      upstream: UPSTREAM,
      port: 8080,
      host: '127.0.0.1',
      hmacKey: KEY,
    })
    expect(
      parseCliOptions(['--port=0', '--host', '0.0.0.0', '--redis', 'redis://127.0.0.1:6379'], {
        ...env,
        TOKENSTASH_UPSTREAM: UPSTREAM,
        TOKENSTASH_ENCRYPTION_KEY: KEY,
        PORT: '9000',
      }),
    ).toMatchObject({ upstream: UPSTREAM, port: 0, host: '0.0.0.0', redisUrl: 'redis://127.0.0.1:6379' })
    expect(
      parseCliOptions([], {
        ...env,
        TOKENSTASH_UPSTREAM: UPSTREAM,
        TOKENSTASH_ENCRYPTION_KEY: KEY,
        TOKENSTASH_DYNAMODB_TABLE: 'tokens',
        PORT: '9000',
      }),
    ).toMatchObject({ port: 9000, dynamodbTable: 'tokens', encryptionKey: KEY })
  })

  it('should name the one option that is missing or malformed, in one line', () => {
    const cases: [string[], Record<string, string>, RegExp][] = [
      [[], env, /^missing --upstream/],
      [['--upstream', 'not a url'], env, /^malformed --upstream/],
      [['--upstream', 'ftp://x/token'], env, /^malformed --upstream/],
      [['--upstream', UPSTREAM, '--port', '80a'], env, /^malformed --port/],
      [['--upstream', UPSTREAM, '--port', '70000'], env, /^malformed --port/],
      [['--upstream', UPSTREAM, '--port'], env, /^option --port needs a value/],
      [['--upstream', UPSTREAM], {}, /^missing TOKENSTASH_HMAC_KEY/],
      [['--upstream', UPSTREAM], { TOKENSTASH_HMAC_KEY: 'short' }, /^malformed TOKENSTASH_HMAC_KEY/],
      [['--upstream', UPSTREAM, '--redis', 'redis://h:1'], env, /^missing TOKENSTASH_ENCRYPTION_KEY/],
      [['--upstream', UPSTREAM, '--redis', 'h:1'], env, /^malformed --redis/],
      [
        ['--upstream', UPSTREAM, '--redis', 'redis://h:1', '--dynamodb-table', 't'],
        env,
        /^conflicting --redis and --dynamodb-table/,
      ],
      [['--upstream', UPSTREAM, '--verbose'], env, /^unknown option "--verbose"/],
    ]
    for (const [argv, vars, message] of cases) {
      const result = parseCliOptions(argv, vars)
      expect('error' in result && result.error).toMatch(message)
      expect('error' in result && result.error.includes('\n')).toBe(false)
      expect(JSON.stringify(result)).not.toContain(KEY)
    }
  })
})
