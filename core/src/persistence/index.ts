export * from './storage-adapter.js'
export * from './memory-storage.js'
export * from './room-persistence.js'
export * from './node-persistence.js'
