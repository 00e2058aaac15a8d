export { closeApp, expectInspectorServed, type ClosableServer } from './app-helpers.js'
export { openRawSocket, refusedUpgradeStatus, restCall, uploadCall, type RawClient, type RestReply } from './clients.js'
export {
  runAdapterTests,
  type AdapterSetup,
  type AdapterTestOptions,
  type AdapterUnderTest,
} from './run-adapter-tests.js'
export { nodeEvents, waitUntil, withTimeout, type WaitOptions } from './wait.js'
export { runStorageTests, type StorageSetup, type StorageUnderTest } from './run-storage-tests.js'
