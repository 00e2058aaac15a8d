export * from './inspector-assets.js'
export * from './inspector-feed.js'
export * from './prometheus.js'
export * from './status.js'
