export * from './auth.js'
export * from './frame-guard.js'
export * from './peer-auth.js'
export * from './pending-connection.js'
