import type { MeshNode } from '@mesh/core'

/** Per node, the capabilities a recipe already set up, so each registers its actor once. */
const installed = new WeakMap<MeshNode, Set<string>>()

/**
 * Adds `capability` to what `node` declares (keeping the capabilities it already has) and
 * runs `install` the first time for this node, e.g. to register the capability's actor.
 */
export const declareCapability = (node: MeshNode, capability: string, install: () => void): void => {
  let done = installed.get(node)
  if (!done) installed.set(node, (done = new Set()))
  if (done.has(capability)) return
  done.add(capability)
  install()
  const self = node.members().find((m) => m.id === node.id)
  const current = self?.capabilities ?? []
  if (!current.includes(capability)) node.setCapabilities([...current, capability])
}

/** True when the member `id` is known to have died or left (an unknown member counts as alive). */
export const isGone = (node: MeshNode, id: string): boolean => {
  const state = node.members().find((m) => m.id === id)?.state
  return state === 'dead' || state === 'left'
}

/** Node members other than `node` that are alive now. */
export const alivePeers = (node: MeshNode): number =>
  node.members().filter((m) => m.role === 'node' && m.id !== node.id && m.state === 'alive').length
