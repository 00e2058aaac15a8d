export * from './advertise-url.js'
export * from './attach-to-server.js'
export * from './read-body.js'
export * from './rest.js'
