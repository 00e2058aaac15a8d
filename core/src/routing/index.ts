export * from './actors.js'
export * from './call-error.js'
export * from './placement.js'
export * from './router.js'
