import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { ActorFactory } from '@mesh/core'

/**
 * Loads `--actors FILE`: an ES module (or CommonJS) whose default export maps capability
 * names to actor factories, `export default { counter: (id) => ({ call(payload) { ... } }) }`.
 * Throws an Error whose message says what is wrong with the file.
 */
export const loadActors = async (file: string): Promise<Record<string, ActorFactory>> => {
  let module: { default?: unknown }
  try {
    module = (await import(pathToFileURL(resolve(file)).href)) as { default?: unknown }
  } catch (error) {
    throw new Error(`--actors ${file}: cannot load it: ${(error as Error).message.split('\n')[0] ?? ''}`)
  }
  const actors = module.default
  const usage = `--actors ${file}: the default export must map capability names to factories, e.g. export default { counter: (id) => ({ call(payload) { ... } }) }`
  if (typeof actors !== 'object' || actors === null || Array.isArray(actors)) throw new Error(usage)
  const entries = Object.entries(actors)
  if (entries.length === 0 || !entries.every(([, factory]) => typeof factory === 'function')) throw new Error(usage)
  return Object.fromEntries(entries) as Record<string, ActorFactory>
}
