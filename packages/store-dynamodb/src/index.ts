export { DYNAMODB_STORE_DEFAULTS, type DynamoDbStoreOptions, dynamoDbStore } from './dynamodb-store'
