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
      drainTimeoutSeconds: 10,
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

  it('should answer --help and --version, whatever else is on the line', () => {
    expect(parseCliOptions(['--help'], {})).toEqual({ help: true })
    expect(parseCliOptions(['--upstream', UPSTREAM, '-h'], env)).toEqual({ help: true })
    expect(parseCliOptions(['--version', '--bogus'], {})).toEqual({ version: true })
  })

  it('should never repeat a value: an unknown option with a key, an upstream URL with a password', () => {
    const results = [
      parseCliOptions(['--upstream', UPSTREAM, `--hmac-key=${KEY}`], env),
      parseCliOptions(['--upstream', UPSTREAM, KEY], env),
      parseCliOptions(['--upstream', 'https://svc:hunter2-password@idp.example.com/token'], env),
      parseCliOptions(['--upstream', 'http://svc:hunter2-password@127.0.0.1/token'], env),
    ]
    expect(results.map((r) => 'error' in r && r.error.split(';')[0])).toEqual([
      'unknown option "--hmac-key"',
      'unknown option (not shown)',
      expect.stringMatching(/^malformed --upstream .*credentials/),
      expect.stringMatching(/^malformed --upstream .*credentials/),
    ])
    for (const r of results) {
      expect(JSON.stringify(r)).not.toContain(KEY.slice(0, 8))
      expect(JSON.stringify(r)).not.toContain('hunter2')
    }
  })

  it('should accept http on any 127.x address and localhost, and https elsewhere only', () => {
    for (const upstream of [
      'http://127.0.0.2:9/token',
      'http://127.10.20.30/t',
      'http://localhost:8/t',
      'http://[::1]:8/t',
    ])
      expect(parseCliOptions(['--upstream', upstream], env)).toMatchObject({ upstream })
    expect(parseCliOptions(['--upstream', 'http://idp.example.com/t'], env)).toEqual({
      error: expect.stringMatching(/^malformed --upstream .*https/),
    })
  })

  it('should read --drain-timeout in seconds, 10 by default', () => {
    expect(parseCliOptions(['--upstream', UPSTREAM, '--drain-timeout', '2.5'], env)).toMatchObject({
      drainTimeoutSeconds: 2.5,
    })
    expect(parseCliOptions(['--upstream', UPSTREAM, '--drain-timeout=-1'], env)).toEqual({
      error: expect.stringMatching(/^malformed --drain-timeout/),
    })
  })
})
