export * from './internal-writes.js'
export * from './light-peer.js'
export * from './sync-answers.js'
export * from './light-peers.js'
