/**
 * A cluster of `mesh serve` processes wired only through fault proxies: every pair of nodes
 * shares exactly one link, dialed by the higher-numbered node through its own proxy. Nodes run
 * with `--max-peers 0`, so they never dial the direct URLs they learn by gossip, and a
 * partition made with the proxies holds.
 */
import type { Exit, MeshProcess } from '../harness.js'
import { startControlledNode, type ControlledNode, type Crash } from './process.js'
import { startProxy, type FaultProxy } from './proxy.js'

/** The link between two nodes: `dialer` joins `acceptor` through `proxy`. */
export interface ClusterLink {
  acceptor: number
  dialer: number
  proxy: FaultProxy
}

/** How to break a link. */
export type LinkFault = 'cut' | 'cut-forward' | 'cut-backward' | 'blackhole'

/** Options of {@link startCluster}. */
export interface ClusterOptions {
  size: number
  /** Node names are `${prefix}${index}`. Default `n`. */
  prefix?: string
  /** More `mesh serve` flags for every node. */
  args?: readonly string[]
  /** Pairs to link, as [acceptor, dialer] with acceptor < dialer. Default: every pair. */
  pairs?: ReadonlyArray<readonly [number, number]>
  /** How long each process may take to print its ready line. Default 30 s (a loaded machine is slow). */
  startTimeoutMs?: number
}

/** A running cluster; see the file header. */
export interface MeshCluster {
  readonly nodes: readonly ControlledNode[]
  readonly links: readonly ClusterLink[]
  /** The link between nodes `a` and `b` (either order). */
  link(a: number, b: number): ClusterLink
  /** Indexes of nodes whose process is running (not paused, killed or crashed). */
  running(): number[]
  /** Breaks every link between two different groups. */
  partition(groups: ReadonlyArray<readonly number[]>, fault?: LinkFault | ((link: ClusterLink) => LinkFault)): void
  /** Applies one fault to one link. */
  fault(link: ClusterLink, fault: LinkFault): void
  /** Heals every link (held bytes delivered, or reset with `reset`). */
  healLinks(options?: { reset?: boolean }): void
  /** SIGKILL, and refuse connections to that node until it restarts. */
  kill(index: number): Promise<Exit>
  /** Restarts a node with the same flags on a new port and points its proxies there. */
  restart(index: number): Promise<MeshProcess>
  /** Waits until every running node has an open link to every other running node. */
  waitLinked(options?: { timeout?: number; among?: readonly number[] }): Promise<void>
  /** Every process that exited without being asked to. */
  crashes(): Crash[]
  /** Kills every process and closes every proxy. */
  close(): Promise<void>
}

interface StatusJson {
  peers: Array<{ id: string | null; link: string }>
}

const DEFAULT_LINK_WAIT_MS = 15_000

/** Starts the proxies, then every node in parallel, each joining its lower-numbered peers. */
export const startCluster = async (options: ClusterOptions): Promise<MeshCluster> => {
  const prefix = options.prefix ?? 'n'
  const pairs: Array<readonly [number, number]> = options.pairs
    ? [...options.pairs]
    : Array.from({ length: options.size }, (_, b) => Array.from({ length: b }, (_, a) => [a, b] as const)).flat()
  const links: ClusterLink[] = await Promise.all(
    pairs.map(async ([acceptor, dialer]) => ({
      acceptor,
      dialer,
      proxy: await startProxy({ name: `${prefix}${dialer}->${prefix}${acceptor}` }),
    })),
  )
  const nodes: ControlledNode[] = []
  const pointAt = (index: number, port: number | undefined): void => {
    for (const l of links) if (l.acceptor === index) l.proxy.retarget(port)
  }
  const close = async (): Promise<void> => {
    await Promise.all(nodes.filter((n) => n.state === 'running' || n.state === 'paused').map((n) => n.kill()))
    await Promise.all(links.map((l) => l.proxy.close()))
  }
  try {
    const started = await Promise.all(
      Array.from({ length: options.size }, async (_, index) => {
        const join = links.filter((l) => l.dialer === index).map((l) => l.proxy.url())
        const node = await startControlledNode({
          name: `${prefix}${index}`,
          join,
          args: ['--max-peers', '0', ...(options.args ?? [])],
          timeoutMs: options.startTimeoutMs ?? 30_000,
        })
        pointAt(index, node.current.port)
        return node
      }),
    )
    nodes.push(...started)
  } catch (error) {
    await close()
    throw error
  }

  const link = (a: number, b: number): ClusterLink => {
    const found = links.find((l) => (l.acceptor === a && l.dialer === b) || (l.acceptor === b && l.dialer === a))
    if (!found) throw new Error(`no link between ${prefix}${a} and ${prefix}${b}`)
    return found
  }

  const fault = (l: ClusterLink, f: LinkFault): void => {
    switch (f) {
      case 'cut':
        return l.proxy.cut('both')
      case 'cut-forward':
        return l.proxy.cut('forward')
      case 'cut-backward':
        return l.proxy.cut('backward')
      case 'blackhole':
        return l.proxy.blackhole()
    }
  }

  const nodeAt = (index: number): ControlledNode => {
    const node = nodes[index]
    if (!node) throw new Error(`no node ${index}`)
    return node
  }

  const running = (): number[] => nodes.flatMap((n, i) => (n.state === 'running' ? [i] : []))

  return {
    nodes,
    links,
    link,
    running,
    fault,
    partition: (groups, f = 'cut') => {
      const groupOf = new Map<number, number>()
      groups.forEach((g, gi) => g.forEach((n) => groupOf.set(n, gi)))
      for (const l of links) {
        const ga = groupOf.get(l.acceptor)
        const gb = groupOf.get(l.dialer)
        if (ga !== undefined && gb !== undefined && ga !== gb) fault(l, typeof f === 'function' ? f(l) : f)
      }
    },
    healLinks: (healOptions) => {
      for (const l of links) l.proxy.heal(healOptions)
    },
    kill: async (index) => {
      pointAt(index, undefined)
      return nodeAt(index).kill()
    },
    restart: async (index) => {
      pointAt(index, undefined)
      const process = await nodeAt(index).restart()
      pointAt(index, process.port)
      return process
    },
    waitLinked: async (waitOptions = {}) => {
      const among = waitOptions.among ?? running()
      const timeout = waitOptions.timeout ?? DEFAULT_LINK_WAIT_MS
      const deadline = Date.now() + timeout
      let missing = ''
      for (;;) {
        const counts = await Promise.all(
          among.map(async (i) => {
            const res = await nodeAt(i)
              .current.api<StatusJson>('/status')
              .catch(() => undefined)
            return res?.status === 200 ? res.body.peers.filter((p) => p.link === 'open').length : -1
          }),
        )
        // With one link per pair, a node linked to everyone has one open link per other node.
        const wanted = (i: number) =>
          links
            .filter((l) => l.acceptor === i || l.dialer === i)
            .filter((l) => among.includes(l.acceptor) && among.includes(l.dialer)).length
        const short = among.filter((i, k) => (counts[k] ?? -1) < wanted(i))
        if (short.length === 0) return
        missing = short.map((i) => `${prefix}${i} has ${String(counts[among.indexOf(i)])}/${wanted(i)}`).join(', ')
        if (Date.now() >= deadline) throw new Error(`cluster not linked within ${timeout} ms: ${missing}`)
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
    },
    crashes: () => nodes.flatMap((n) => n.crashes()),
    close,
  }
}
