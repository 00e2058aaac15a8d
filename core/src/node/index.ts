export * from './events.js'
export * from './mesh-node.js'
export * from './options.js'
export * from './backbone.js'
