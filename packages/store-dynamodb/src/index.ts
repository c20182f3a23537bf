export {
  DYNAMODB_STORE_DEFAULTS,
  type DynamoDbCallOptions,
  type DynamoDbStoreOptions,
  type DynamoDbTokenStore,
  dynamoDbStore,
} from './dynamodb-store'
