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

/**
 * A {@link Logger} over a framework's logger that takes one text line per entry (NestJS's
 * `Logger`, `console`-like ones): the fields follow the message as JSON.
 *
 * @example
 * const nest = new Logger('Mesh')
 * new MeshNode({ logger: lineLogger((level, line) => nest[level === 'info' ? 'log' : level](line)) })
 */
export const lineLogger = (write: (level: keyof Logger, line: string) => void): Logger => {
  const log =
    (level: keyof Logger) =>
    (message: string, fields?: LogFields): void =>
      write(level, fields ? `${message} ${JSON.stringify(fields)}` : message)
  return { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') }
}
