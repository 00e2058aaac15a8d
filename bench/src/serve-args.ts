/** The flags bench servers share with `mesh serve` (DESIGN.md §4). */
export interface ServeArgs {
  port: number
  host: string
  name: string
  join: string[]
  /** Baseline worker only: `naive` or `ws`. */
  role: string
  /**
   * Bench worker only: `maxPeers` of the node (0: dial only what the bench says; `default`:
   * core's default, gossip dialing as in `mesh serve`).
   */
  maxPeers: number | 'default' | undefined
  /** Bench worker only: `redis://HOST:PORT` of a Redis backbone (`@mesh/redis`). */
  backbone: string | undefined
}

/** Parses `--port --host --name --join (repeatable) --role`; throws a one-line error on anything else. */
export const parseServeArgs = (argv: readonly string[]): ServeArgs => {
  const out: ServeArgs = {
    port: 0,
    host: '127.0.0.1',
    name: 'bench',
    join: [],
    role: 'naive',
    maxPeers: undefined,
    backbone: undefined,
  }
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i] ?? ''
    const value = argv[i + 1]
    if (flag === 'serve') continue
    if (value === undefined) throw new Error(`${flag} needs a value`)
    i++
    switch (flag) {
      case '--port':
        out.port = Number(value)
        break
      case '--host':
        out.host = value
        break
      case '--name':
        out.name = value
        break
      case '--join':
        out.join.push(value)
        break
      case '--role':
        out.role = value
        break
      case '--max-peers':
        out.maxPeers = value === 'default' ? 'default' : Number(value)
        break
      case '--backbone':
        out.backbone = value
        break
      default:
        throw new Error(`unknown flag ${flag}`)
    }
  }
  if (!Number.isInteger(out.port) || out.port < 0 || out.port > 65535) throw new Error('--port must be 0..65535')
  return out
}

/** Milliseconds-resolution sleep for pacing (never used to wait for an event). */
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** Runs `gc()` twice when the process was started with `--expose-gc`. */
export const collectGarbage = (): void => {
  const gc = (globalThis as { gc?: () => void }).gc
  gc?.()
  gc?.()
}
