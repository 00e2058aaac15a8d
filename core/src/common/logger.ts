/** Structured fields attached to a log line. */
export type LogFields = Record<string, unknown>

/** What Mesh logs through. Mesh never writes to the console itself: pass one in. */
export interface Logger {
  debug(message: string, fields?: LogFields): void
  info(message: string, fields?: LogFields): void
  warn(message: string, fields?: LogFields): void
  error(message: string, fields?: LogFields): void
}

const noop = (): void => {}

/** The default logger: discards everything. */
export const silentLogger: Logger = { debug: noop, info: noop, warn: noop, error: noop }
