import { clockOffset } from '../clock.js'
import { IpcClient } from '../ipc.js'
import { benchScript, spawnChild, stopChild, waitListening, type Child } from '../processes.js'
import type { BaselineOps } from '../worker-ops.js'

/** A baseline worker process (`naive` or `ws` role). */
export interface BaselineNode {
  name: string
  wsUrl: string
  offset: number
  child: Child
  ipc: IpcClient<BaselineOps>
}

/** Starts baseline workers; they are stopped by {@link stopBaselines}, or killed on exit. */
export const startBaselines = async (role: 'naive' | 'ws', names: readonly string[]): Promise<BaselineNode[]> =>
  Promise.all(
    names.map(async (name) => {
      const child = spawnChild({
        script: benchScript('baseline-worker.js'),
        args: ['--role', role, '--port', '0', '--host', '127.0.0.1', '--name', name],
        label: `${role}-${name}`,
        ipc: true,
      })
      const ipc = new IpcClient<BaselineOps>(child.process, `${role} ${name}`)
      const httpUrl = await waitListening(child)
      const offset = await clockOffset(() => ipc.call('now', null))
      return { name, wsUrl: httpUrl.replace(/^http/, 'ws'), offset, child, ipc }
    }),
  )

/** Stops baseline workers; never throws. */
export const stopBaselines = async (nodes: readonly BaselineNode[]): Promise<void> => {
  await Promise.allSettled(
    nodes.map((n) => stopChild(n.child, { request: () => void n.ipc.call('close', null).catch(() => {}) })),
  )
}
