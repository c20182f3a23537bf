export {
  type FakeTokenProvider,
  type FakeTokenProviderCall,
  type FakeTokenProviderOptions,
  fakeTokenProvider,
} from './fake-provider'
export { runStoreContract, type StoreContractOptions } from './store-contract'
