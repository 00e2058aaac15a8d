/**
 * Process faults for `mesh serve` nodes started with the e2e harness: SIGKILL, SIGSTOP,
 * SIGCONT and restart with the same flags. A node keeps the record of every process it ran
 * (its incarnations), so a test can tell a crash from a kill it asked for.
 */
import { startNode, type Exit, type MeshProcess, type StartOptions } from '../harness.js'

/** What a {@link ControlledNode} is doing now. */
export type NodeState = 'running' | 'paused' | 'killed' | 'stopped' | 'crashed'

/** One process run of a node, and how it ended. */
export interface Incarnation {
  /** 0 for the first process, then one more per restart. */
  index: number
  process: MeshProcess
  /** The signal the test sent to end it, if it did. */
  endedBy: NodeJS.Signals | undefined
  /** Set once the process exited. */
  exit: Exit | undefined
}

/** A process that ended without the test asking for it. */
export interface Crash {
  node: string
  incarnation: number
  exit: Exit
  /** The last lines of its standard error. */
  stderrTail: string
}

/** A `mesh serve` node the test can kill, pause, resume and restart. */
export interface ControlledNode {
  readonly name: string
  readonly state: NodeState
  /** The current (or last) process. */
  readonly current: MeshProcess
  readonly incarnations: readonly Incarnation[]
  /** SIGKILL; resolves once the process is gone. */
  kill(): Promise<Exit>
  /** SIGSTOP: the process freezes, its sockets stay open. */
  pause(): void
  /** SIGCONT after {@link pause}. */
  resume(): void
  /** Starts a new process with the same flags (a new member id, a new port, an empty replica). */
  restart(): Promise<MeshProcess>
  /** Graceful SIGTERM stop; resolves with the exit. */
  stop(): Promise<Exit>
  /** Processes that exited without being asked to. */
  crashes(): Crash[]
}

const tail = (text: string, lines = 20): string => text.trimEnd().split('\n').slice(-lines).join('\n')

/** Starts `mesh serve` (through the harness) under process control. Clean up with the harness's `stopAll`. */
export const startControlledNode = async (options: StartOptions): Promise<ControlledNode> => {
  const incarnations: Incarnation[] = []
  let state: NodeState = 'running'

  const launch = async (): Promise<MeshProcess> => {
    const process = await startNode(options)
    const incarnation: Incarnation = { index: incarnations.length, process, endedBy: undefined, exit: undefined }
    incarnations.push(incarnation)
    void process.exited.then((exit) => {
      incarnation.exit = exit
      if (incarnation === incarnations.at(-1) && incarnation.endedBy === undefined) state = 'crashed'
    })
    state = 'running'
    return process
  }

  const currentIncarnation = (): Incarnation => {
    const last = incarnations.at(-1)
    if (!last) throw new Error(`${options.name} never started`)
    return last
  }

  await launch()

  const signal = async (sig: NodeJS.Signals, next: NodeState): Promise<Exit> => {
    const inc = currentIncarnation()
    if (inc.exit) return inc.exit
    inc.endedBy = sig
    state = next
    // A stopped process ignores SIGTERM until it is continued.
    if (sig !== 'SIGKILL') inc.process.child.kill('SIGCONT')
    return inc.process.stop(sig)
  }

  return {
    name: options.name,
    get state() {
      return state
    },
    get current() {
      return currentIncarnation().process
    },
    incarnations,
    kill: () => signal('SIGKILL', 'killed'),
    stop: () => signal('SIGTERM', 'stopped'),
    pause: () => {
      if (state !== 'running') throw new Error(`${options.name} is ${state}, cannot pause`)
      currentIncarnation().process.child.kill('SIGSTOP')
      state = 'paused'
    },
    resume: () => {
      if (state !== 'paused') throw new Error(`${options.name} is ${state}, cannot resume`)
      currentIncarnation().process.child.kill('SIGCONT')
      state = 'running'
    },
    restart: async () => {
      if (state === 'running' || state === 'paused') await signal('SIGKILL', 'killed')
      return launch()
    },
    crashes: () =>
      incarnations
        .filter((inc) => inc.exit !== undefined && inc.endedBy === undefined)
        .map((inc) => ({
          node: options.name,
          incarnation: inc.index,
          exit: inc.exit as Exit,
          stderrTail: tail(inc.process.stderr),
        })),
  }
}
