#!/usr/bin/env node
import { readFileSync } from 'node:fs'
import { StorageOpenError } from '@mesh/storage'
import { loadActors } from './actors.js'
import { parseCommand, UsageError, type Command } from './args.js'
import { createLogger } from './logger.js'
import { serve, type MeshServer } from './serve.js'

const fail = (message: string, exitCode: number): void => {
  process.stderr.write(`mesh: ${message.split('\n')[0] ?? ''}\n`)
  process.exitCode = exitCode
}

const version = (): string =>
  (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version

const main = async (): Promise<void> => {
  let command: Command
  try {
    command = parseCommand(process.argv.slice(2), process.env)
  } catch (error) {
    if (!(error instanceof UsageError)) throw error
    fail(`${error.message} (see mesh --help)`, 2)
    return
  }
  if (command.kind === 'help') return void process.stdout.write(command.text)
  if (command.kind === 'usage') {
    process.stderr.write(`mesh: no command given\n\n${command.text}`)
    process.exitCode = 2
    return
  }
  if (command.kind === 'version') return void process.stdout.write(`${version()}\n`)

  const logger = createLogger(command.log)
  let server: MeshServer
  try {
    const actors = command.actorsFile === undefined ? undefined : await loadActors(command.actorsFile)
    server = await serve({ ...command.options, actors, logger })
  } catch (error) {
    // A data directory that cannot be used is bad input, like a bad flag: exit code 2.
    fail(error instanceof Error ? error.message : String(error), error instanceof StorageOpenError ? 2 : 1)
    return
  }
  process.stdout.write(`mesh: ${server.node.name} listening on ${server.url}\n`)

  let stopping = false
  const stop = (signal: NodeJS.Signals): void => {
    // A second signal means the graceful stop is taking too long for the operator.
    if (stopping) process.exit(1)
    stopping = true
    logger.info('stopping', { signal })
    server.close().then(
      () => process.exit(0),
      (error: unknown) => {
        fail(`stop failed: ${String(error)}`, 1)
        process.exit(1)
      },
    )
  }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
}

await main()
