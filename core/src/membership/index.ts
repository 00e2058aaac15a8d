export * from './discovery.js'
export * from './membership.js'
export * from './reactions.js'
export * from './light-members.js'
