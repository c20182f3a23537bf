import { createServer } from 'node:http'
import { createTokenProxy } from '@tokenstash/proxy'

const proxy = createTokenProxy({
  upstream: process.env.TOKEN_URL ?? 'https://pool.auth.eu-west-1.amazoncognito.com/oauth2/token',
  hmacKey: process.env.TOKENSTASH_HMAC_KEY ?? '', // 32 random bytes, base64: `openssl rand -base64 32`
})
// node:http (or express, or `await proxy.listen(8080)`): clients post to http://host:8080/oauth2/token
export const server = createServer(proxy.handler)
// AWS Lambda: API Gateway REST (v1) and HTTP API (v2) events, Lambda Function URLs
export const handler = proxy.lambdaHandler
