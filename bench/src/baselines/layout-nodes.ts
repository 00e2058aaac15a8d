import { IpcClient } from '../ipc.js'
import { benchScript, spawnChild, stopChild, waitListening, type Child } from '../processes.js'
import type { LayoutOps } from '../worker-ops.js'

/** A bare key/value layout, no Mesh: `map` (a `Y.Map`, Mesh before issue 14) or `array` (the `YKeyValue` layout). */
export type Layout = 'map' | 'array'

/** Suffix of a layout baseline's name: `churn_heap_mb_ymap`, `heap_bytes_per_key_yarray`. */
export const layoutSuffix = (layout: Layout): string => (layout === 'map' ? '_ymap' : '_yarray')

/** How a layout is described in notes. */
export const layoutLabel = (layout: Layout): string =>
  layout === 'map' ? 'bare Y.Doc, Y.Map' : 'bare Y.Doc, { key, val } entries in a Y.Array'

/** A layout worker process (`layout-worker.js`). */
export interface LayoutNode {
  /** `ws://127.0.0.1:PORT`: opening a socket here gets the whole state. */
  wsUrl: string
  ipc: IpcClient<LayoutOps>
  stop(): Promise<void>
}

/** Starts a layout worker and waits until it serves. */
export const startLayout = async (layout: Layout, name: string): Promise<LayoutNode> => {
  const child: Child = spawnChild({
    script: benchScript('layout-worker.js'),
    args: ['--layout', layout, '--host', '127.0.0.1', '--name', name],
    label: `layout-${layout}-${name}`,
    ipc: true,
  })
  const ipc = new IpcClient<LayoutOps>(child.process, `${layout} ${name}`)
  const stop = () => stopChild(child, { request: () => void ipc.call('close', null).catch(() => {}) })
  try {
    const httpUrl = await waitListening(child)
    return { wsUrl: httpUrl.replace(/^http/, 'ws'), ipc, stop }
  } catch (error) {
    await stop()
    throw error
  }
}

/** Runs `body` with a fresh layout worker and always stops it afterwards. */
export const withLayout = async <T>(layout: Layout, name: string, body: (node: LayoutNode) => Promise<T>) => {
  const node = await startLayout(layout, name)
  try {
    return await body(node)
  } finally {
    await node.stop()
  }
}
