import { cognito, createTokenProvider, memoryStore } from '@tokenstash/core'

// What the README's example imports: the provider module the fleet's functions share. Here on a
// memory store; in production dynamoDbStore or redisStore, with an encryptionKey.
const { COGNITO_DOMAIN = '', CLIENT_ID = '', CLIENT_SECRET = '' } = process.env
export const ordersApiToken = createTokenProvider({
  source: cognito({ domain: COGNITO_DOMAIN, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET }),
  store: memoryStore(),
  encryption: false,
})
