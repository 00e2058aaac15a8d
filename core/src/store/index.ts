export * from './kv-index.js'
export * from './store.js'
export * from './sweeper.js'
export * from './kv-entry.js'
