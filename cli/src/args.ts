import { parseArgs, type ParseArgsConfig } from 'node:util'
import { CONFLICT_POLICIES, parseDiscovery, type ConflictPolicy, type Discovery } from '@mesh/core'
import { parseFsyncPolicy } from '@mesh/storage'
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from './logger.js'
import { checkPeerUrl, type ServeOptions } from './serve.js'

/** The options of `mesh serve`, shown by `mesh --help` and `mesh serve --help`. */
const SERVE_OPTIONS = `Options of mesh serve:
  --port N              port to listen on, 0 picks a free one (default: $PORT or 4000)
  --host HOST           interface to listen on (default: 127.0.0.1)
  --name NAME           node name shown to peers (default: $MESH_NAME or node-<id>)
  --join URL            peer to join, ws://host:port/mesh; repeatable
                        (default: $MESH_JOIN, comma-separated)
  --url URL             URL peers reach this node at (default: ws://HOST:PORT/mesh)
  --on-conflict POLICY  ${CONFLICT_POLICIES.join(' | ')} (default: merge); exception holds
                        a diverged room until POST /mesh/api/conflicts/resolve
  --discover SPEC       find peers: dns:NAME:PORT or multicast[:GROUP:PORT]; repeatable
  --multicast-interface ADDR  interface for multicast discovery (e.g. 127.0.0.1)
  --backbone URL        share rooms and membership through Redis Streams,
                        redis://HOST:PORT (default: $MESH_BACKBONE); see docs/backbone.md
  --max-peers N         most peers dialed after learning of them by gossip or --discover
                        (default: 8; 0 with --backbone)
  --heartbeat-ms N      heartbeat interval in ms (default: 1000)
  --dead-after-ms N     silence after which a member is dead, in ms (default: 5000)
  --capabilities LIST   comma-separated capabilities of this node, e.g. search,index
                        (default: the capabilities of --actors)
  --actors FILE         module whose default export maps capabilities to actor
                        factories: export default { counter: (id) => ({ call(p) {...} }) };
                        calls: POST /mesh/api/call/:capability/:id
  --data-dir DIR        keep every room in DIR (LevelDB) across restarts; the node
                        loads it before it serves (default: in memory only)
  --fsync POLICY        with --data-dir: always | batch:MS | never (default: batch:50);
                        docs/persistence.md has the loss window of each
  --read-only-light-peers  refuse writes from browser tabs and y-websocket clients
  --secret SECRET       shared mesh secret every peer must know (8+ characters; use
                        32 random ones, e.g. openssl rand -base64 32); repeat
                        to rotate (default: $MESH_SECRET, comma-separated)
  --allowed-origin URL  browser origin allowed to connect; repeatable (default: any
                        for light peers and REST; none on the peer endpoint)
  --control-token TOKEN demo mode: enable the control API (cut/heal links) at
                        /mesh/api/control for requests with "Authorization: Bearer TOKEN",
                        and the inspector's demo controls (open it with #token=TOKEN);
                        8+ printable characters; never in production
                        (default: $MESH_CONTROL_TOKEN; unset: control API disabled)
  --log-level LEVEL     ${LOG_LEVELS.join(' | ')} (default: info)
  --log-format FORMAT   ${LOG_FORMATS.join(' | ')} (default: text)
  -h, --help            show this help

Prints "mesh: NAME listening on http://HOST:PORT" once it serves; logs go to stderr.
Stops gracefully on SIGINT or SIGTERM.
`

/** Help of `mesh serve --help`. */
export const SERVE_HELP = `Usage: mesh serve [options]

Runs a Mesh node: peer endpoint ws://HOST:PORT/mesh, light peers at /mesh/:room,
REST API at /mesh/api, inspector at /mesh/inspector.

${SERVE_OPTIONS}`

/** Help of `mesh --help`: the commands, then every option of `serve` (the errors point here). */
export const MAIN_HELP = `Usage: mesh <command> [options]

Commands:
  serve          run a standalone Mesh node with the REST API
                 (e.g. mesh serve --port 4001 --join ws://127.0.0.1:4000/mesh)

Options:
  -h, --help     show help (also: mesh serve --help)
  -v, --version  print the version

${SERVE_OPTIONS}`

/** Bad command-line input; the CLI prints the message on one line and exits with code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError'
}

/** What the command line asks for. */
export type Command =
  | { kind: 'help'; text: string }
  /** `mesh` with no command: the usage goes to stderr and the exit code is 2. */
  | { kind: 'usage'; text: string }
  | { kind: 'version' }
  | {
      kind: 'serve'
      options: ServeOptions
      log: { level: LogLevel; format: LogFormat }
      /** `--actors FILE`, loaded before the node starts. */
      actorsFile?: string
    }

const oneOf = <T extends string>(flag: string, allowed: readonly T[], value: string | undefined, fallback: T): T => {
  if (value === undefined) return fallback
  if ((allowed as readonly string[]).includes(value)) return value as T
  throw new UsageError(`${flag} must be one of ${allowed.join(', ')}; got "${value}"`)
}

const parsePort = (value: string, source: string): number => {
  const port = /^\d{1,5}$/.test(value) ? Number(value) : NaN
  if (!(port >= 0 && port <= 65535))
    throw new UsageError(`${source} must be a port number from 0 to 65535; got "${value}"`)
  return port
}

const count = (flag: string, value: string | undefined, min: number): number | undefined => {
  if (value === undefined) return undefined
  const n = /^\d{1,9}$/.test(value) ? Number(value) : NaN
  if (!(n >= min)) throw new UsageError(`${flag} must be a whole number from ${min} up; got "${value}"`)
  return n
}

const nonEmpty = (flag: string, value: string): string => {
  if (value.trim() === '') throw new UsageError(`${flag} must not be empty`)
  return value
}

const peerUrl = (flag: string, value: string): string => {
  try {
    return checkPeerUrl(value)
  } catch (error) {
    throw new UsageError(`${flag}: ${(error as Error).message}`)
  }
}

/**
 * `--port -1` reads to parseArgs as a flag with no value ("argument is ambiguous"); joined as
 * `--port=-1` it reaches the range check, which says what is allowed.
 */
const joinNegativeValues = (args: readonly string[], valued: ReadonlySet<string>): string[] => {
  const out: string[] = []
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string
    const next = args[i + 1]
    if (valued.has(arg) && next !== undefined && /^-\d/.test(next)) {
      out.push(`${arg}=${next}`)
      i++
    } else out.push(arg)
  }
  return out
}

/** `--data-dir` and `--fsync`, checked. */
const persistenceFlags = (
  dataDir: string | undefined,
  fsync: string | undefined,
): Pick<ServeOptions, 'dataDir' | 'fsync'> => {
  if (dataDir === undefined) {
    if (fsync !== undefined) throw new UsageError('--fsync needs --data-dir')
    return {}
  }
  if (dataDir.trim() === '') throw new UsageError('--data-dir must not be empty')
  try {
    return { dataDir, fsync: fsync === undefined ? undefined : parseFsyncPolicy(fsync) }
  } catch (error) {
    throw new UsageError(`--fsync: ${(error as Error).message}`)
  }
}

/** The flags of `mesh serve`, as `parseArgs` reads them. */
const SERVE_FLAGS = {
  port: { type: 'string' },
  host: { type: 'string' },
  name: { type: 'string' },
  join: { type: 'string', multiple: true },
  url: { type: 'string' },
  'on-conflict': { type: 'string' },
  discover: { type: 'string', multiple: true },
  'multicast-interface': { type: 'string' },
  backbone: { type: 'string' },
  'max-peers': { type: 'string' },
  'heartbeat-ms': { type: 'string' },
  'dead-after-ms': { type: 'string' },
  capabilities: { type: 'string' },
  actors: { type: 'string' },
  'read-only-light-peers': { type: 'boolean' },
  'data-dir': { type: 'string' },
  fsync: { type: 'string' },
  'control-token': { type: 'string' },
  secret: { type: 'string', multiple: true },
  'allowed-origin': { type: 'string', multiple: true },
  'log-level': { type: 'string' },
  'log-format': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies NonNullable<ParseArgsConfig['options']>

/** Flags of `mesh serve` that take a value. */
const SERVE_VALUED_FLAGS: ReadonlySet<string> = new Set(
  Object.entries(SERVE_FLAGS)
    .filter(([, option]) => option.type === 'string')
    .map(([flag]) => `--${flag}`),
)

const parseServe = (args: string[], env: NodeJS.ProcessEnv): Command => {
  let values
  try {
    ;({ values } = parseArgs({
      args: joinNegativeValues(args, SERVE_VALUED_FLAGS),
      strict: true,
      allowPositionals: false,
      options: SERVE_FLAGS,
    }))
  } catch (error) {
    // Node's messages run on with advice about "--"; the first sentence is the useful part.
    const message = (error as Error).message
    const ambiguous = /^Option '(--[a-z-]+)[^']*' argument is ambiguous/.exec(message)
    if (ambiguous) {
      const flag = ambiguous[1] as string
      throw new UsageError(`${flag} needs a value; for one that starts with "-", write ${flag}=VALUE`)
    }
    const first = message.split(/\.\s/)[0] ?? 'bad arguments'
    throw new UsageError(first.charAt(0).toLowerCase() + first.slice(1))
  }
  if (values.help) return { kind: 'help', text: SERVE_HELP }

  const port =
    values.port !== undefined ? parsePort(values.port, '--port') : env.PORT ? parsePort(env.PORT, 'PORT') : undefined
  if (values.host !== undefined && values.host.trim() === '') throw new UsageError('--host must not be empty')
  const name = values.name ?? (env.MESH_NAME || undefined)
  if (name !== undefined && (name.length === 0 || name.length > 256)) {
    throw new UsageError('--name must be 1 to 256 characters')
  }
  const joinFlags = values.join ?? []
  const join =
    joinFlags.length > 0
      ? joinFlags.map((url) => peerUrl('--join', url))
      : (env.MESH_JOIN ?? '')
          .split(',')
          .map((url) => url.trim())
          .filter((url) => url !== '')
          .map((url) => peerUrl('MESH_JOIN', url))
  const interfaceAddress = values['multicast-interface']
  const discovery: Discovery[] = (values.discover ?? []).map((spec) => {
    try {
      return parseDiscovery(spec, { interfaceAddress })
    } catch (error) {
      throw new UsageError(`--discover: ${(error as Error).message}`)
    }
  })
  const heartbeatMs = count('--heartbeat-ms', values['heartbeat-ms'], 1)
  const deadAfterMs = count('--dead-after-ms', values['dead-after-ms'], 1)
  if (heartbeatMs !== undefined && deadAfterMs !== undefined && deadAfterMs <= heartbeatMs) {
    throw new UsageError('--dead-after-ms must be longer than --heartbeat-ms')
  }
  const controlToken = values['control-token'] ?? (env.MESH_CONTROL_TOKEN || undefined)
  if (controlToken !== undefined && !/^[\x21-\x7e]{8,}$/.test(controlToken)) {
    // It travels in an Authorization header: printable ASCII, no spaces.
    throw new UsageError('--control-token must be at least 8 printable characters without spaces')
  }
  const secretSource = values.secret ? '--secret' : 'MESH_SECRET'
  const secrets =
    values.secret ??
    (env.MESH_SECRET ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '')
  if (secrets.some((s) => s.length < 8)) {
    throw new UsageError(
      `${secretSource} must be at least 8 characters${secretSource === 'MESH_SECRET' ? ' (each, when comma-separated)' : ''}; use 32 random ones, e.g. openssl rand -base64 32`,
    )
  }
  const backboneUrl = values.backbone ?? (env.MESH_BACKBONE || undefined)
  if (backboneUrl !== undefined && !/^rediss?:\/\/[^/\s]/.test(backboneUrl)) {
    throw new UsageError(`--backbone must be a redis://HOST:PORT URL; got "${backboneUrl.slice(0, 100)}"`)
  }
  const capabilities = values.capabilities
    ?.split(',')
    .map((c) => c.trim())
    .filter((c) => c !== '')
  return {
    kind: 'serve',
    options: {
      node: {
        discovery,
        maxPeers: count('--max-peers', values['max-peers'], 0),
        membership: { heartbeatMs, deadAfterMs },
        capabilities,
        lightPeers: { readOnly: values['read-only-light-peers'] ?? false },
        ...(secrets.length > 0 ? { secret: secrets } : {}),
        ...(values['allowed-origin'] ? { allowedOrigins: values['allowed-origin'] } : {}),
      },
      backboneUrl,
      port,
      host: values.host,
      name,
      join,
      peerUrl: values.url === undefined ? undefined : peerUrl('--url', values.url),
      onConflict: oneOf<ConflictPolicy>('--on-conflict', CONFLICT_POLICIES, values['on-conflict'], 'merge'),
      controlToken,
      ...persistenceFlags(values['data-dir'], values.fsync),
    },
    log: {
      level: oneOf('--log-level', LOG_LEVELS, values['log-level'], 'info'),
      format: oneOf('--log-format', LOG_FORMATS, values['log-format'], 'text'),
    },
    ...(values.actors !== undefined ? { actorsFile: nonEmpty('--actors', values.actors) } : {}),
  }
}

/**
 * Parses `mesh` arguments (without `node` and the script path). Flags win over the
 * environment (`PORT`, `MESH_NAME`, `MESH_JOIN`, `MESH_CONTROL_TOKEN`). Throws {@link UsageError} on bad input.
 */
export const parseCommand = (argv: readonly string[], env: NodeJS.ProcessEnv = {}): Command => {
  const [first, ...rest] = argv
  switch (first) {
    case undefined:
      return { kind: 'usage', text: MAIN_HELP }
    case '-h':
    case '--help':
    case 'help':
      return rest[0] === 'serve' ? { kind: 'help', text: SERVE_HELP } : { kind: 'help', text: MAIN_HELP }
    case '-v':
    case '--version':
      return { kind: 'version' }
    case 'serve':
      return parseServe(rest, env)
    default:
      throw new UsageError(
        first.startsWith('-') ? `unknown option ${first}` : `unknown command "${first}"; the command is "mesh serve"`,
      )
  }
}
