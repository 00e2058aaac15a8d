export { MAIN_HELP, parseCommand, SERVE_HELP, UsageError, type Command } from './args.js'
export { createLogger, LOG_FORMATS, LOG_LEVELS, type LogFormat, type LoggerOptions, type LogLevel } from './logger.js'
export { checkPeerUrl, serve, type MeshServer, type ServeOptions } from './serve.js'
export { loadActors } from './actors.js'
