// Production entry point: `pnpm start` with the environment below, e.g. in ECS, EKS or on a VM.
//   COGNITO_DOMAIN          acme.auth.eu-west-1.amazoncognito.com
//   COGNITO_CLIENT_ID       app client with a secret and the client_credentials flow
//   COGNITO_CLIENT_SECRET   its secret (from Secrets Manager or SSM, not from source control)
//   COGNITO_SCOPES          orders/read
//   ORDERS_API_URL          https://orders.example.com
//   REDIS_URL               rediss://… (ElastiCache, Valkey, Redis)
//   TOKENSTASH_ENCRYPTION_KEY  32 random bytes, base64 (openssl rand -base64 32), the same on every instance
//   PORT                    8080
import { cognito } from '@tokenstash/core'
import { Redis } from 'ioredis'
import { createApp } from './app'

const REQUIRED = [
  'COGNITO_DOMAIN',
  'COGNITO_CLIENT_ID',
  'COGNITO_CLIENT_SECRET',
  'ORDERS_API_URL',
  'REDIS_URL',
  'TOKENSTASH_ENCRYPTION_KEY',
]
const missing = REQUIRED.filter((name) => !process.env[name]?.trim())
if (missing.length > 0) {
  console.error(`Missing environment variable(s) ${missing.join(', ')}. To run locally instead: pnpm local`)
  process.exit(1)
}
const env = process.env as Record<string, string>

const redis = new Redis(env.REDIS_URL!)
const { server } = createApp({
  source: cognito({
    domain: env.COGNITO_DOMAIN!,
    clientId: env.COGNITO_CLIENT_ID!,
    clientSecret: env.COGNITO_CLIENT_SECRET!,
    scopes: env.COGNITO_SCOPES,
  }),
  redis,
  encryptionKey: env.TOKENSTASH_ENCRYPTION_KEY!,
  ordersApiUrl: env.ORDERS_API_URL!,
})
const port = Number(env.PORT ?? 8080)
server.listen(port, () => console.log(`orders service listening on :${port}`))
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => server.close(() => redis.quit().finally(() => process.exit(0))))
}
