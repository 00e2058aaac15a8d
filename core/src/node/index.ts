export * from './mesh-node.js'
