import type { LogFields, Logger } from '@mesh/core'

/** Levels a CLI logger can be set to; `silent` logs nothing. */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const

/** One of {@link LOG_LEVELS}. */
export type LogLevel = (typeof LOG_LEVELS)[number]

/** Output formats of {@link createLogger}. */
export const LOG_FORMATS = ['text', 'json'] as const

/** One of {@link LOG_FORMATS}. */
export type LogFormat = (typeof LOG_FORMATS)[number]

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** Lowest level written. Default `info`. */
  level?: LogLevel
  /** `text`: one compact line per entry; `json`: one JSON object per line. Default `text`. */
  format?: LogFormat
  /** Where lines go. Default: standard error, so standard output stays for the ready line. */
  write?: (line: string) => void
}

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3, silent: 4 }

const textValue = (value: unknown): string => {
  if (typeof value === 'string' && /^[^\s"=]+$/.test(value)) return value
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- undefined for undefined, functions, symbols
  return JSON.stringify(value) ?? String(value)
}

/**
 * A {@link Logger} that writes one line per entry (to standard error by default).
 * @example new MeshNode({ logger: createLogger({ level: 'debug', format: 'json' }) })
 */
export const createLogger = (options: LoggerOptions = {}): Logger => {
  const threshold = RANK[options.level ?? 'info']
  const json = options.format === 'json'
  const write = options.write ?? ((line: string) => void process.stderr.write(`${line}\n`))
  const log =
    (level: Exclude<LogLevel, 'silent'>) =>
    (message: string, fields: LogFields = {}): void => {
      if (RANK[level] < threshold) return
      const time = new Date().toISOString()
      if (json) return write(JSON.stringify({ time, level, msg: message, ...fields }))
      const extra = Object.entries(fields).map(([key, value]) => ` ${key}=${textValue(value)}`)
      write(`${time} ${level.toUpperCase().padEnd(5)} ${message}${extra.join('')}`)
    }
  return { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') }
}
