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

/**
 * True while the life of node `id` that started at `started` goes on: this node lists it (the
 * dead are forgotten about a minute after their death), neither dead nor left, and it did not
 * start again since (a node back under the same id is a new life). `started` null: any life.
 */
export const holderLives = (node: MeshNode, id: string, started: number | null): boolean => {
  const member = node.members().find((m) => m.id === id)
  if (!member || member.state === 'dead' || member.state === 'left') return false
  // 0: a member linked but not heard from yet, whose life is not known.
  return started === null || member.startedAt === 0 || member.startedAt === started
}

/** Node members other than `node` that are alive now. */
export const alivePeers = (node: MeshNode): number =>
  node.members().filter((m) => m.role === 'node' && m.id !== node.id && m.state === 'alive').length
