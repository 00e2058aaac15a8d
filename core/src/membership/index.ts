export * from './discovery.js'
export * from './membership.js'
