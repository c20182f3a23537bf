export {
  DYNAMODB_STORE_DEFAULTS,
  type DynamoDbStoreOptions,
  type DynamoDbTokenStore,
  dynamoDbStore,
} from './dynamodb-store'
