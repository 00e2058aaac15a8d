import { MeshError, type JsonValue, type MeshNode, type MemberState, errorText } from '@mesh/core'
import { prefixView, type PrefixView } from './prefix-view.js'

const PREFIX = 'mesh.registry/'

/** What a node registers: a service name, where to reach it, and any JSON metadata. */
export interface ServiceRegistration {
  service: string
  url: string
  meta?: Record<string, JsonValue>
}

/** One registered instance of a service, as {@link Registry.lookup} lists it. */
export interface ServiceInstance {
  /** Unique id of this registration. */
  id: string
  service: string
  url: string
  meta: Record<string, JsonValue>
  /** Id and name of the node that registered it. */
  node: string
  nodeName: string
  /** The node's membership state as this node sees it: `alive`, or `suspect` while it is silent. */
  health: 'alive' | 'suspect'
  /** When it was registered, ms since the epoch by the registering node's clock. */
  registeredAt: number
}

/** A registration this node made; `unregister` removes it everywhere. */
export interface Registered {
  id: string
  unregister(): Promise<void>
}

/** A service registry on one node: see {@link registry}. */
export interface Registry {
  /** Registers an instance of a service, owned by this node: removed everywhere when it leaves or dies. */
  register(registration: ServiceRegistration): Promise<Registered>
  /** The live instances of a service (those of dead or departed nodes left out), oldest first. */
  lookup(service: string): ServiceInstance[]
  /**
   * Calls `listener` with the service's instances whenever they change: a registration, a
   * removal, or a change of a registering node's health. Returns the unsubscribe function.
   */
  watch(service: string, listener: (instances: ServiceInstance[]) => void): () => void
  /** Stops following the store and membership (registrations stay until unregistered or the node leaves). */
  close(): void
}

interface Stored {
  service: string
  url: string
  meta: Record<string, JsonValue>
  node: string
  registeredAt: number
}

const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x)

/** A stored registration, when well formed: any node (or light peer) may have written the key. */
const parse = (raw: JsonValue): Stored | undefined => {
  if (!isRecord(raw)) return undefined
  const { service, url, meta, node, registeredAt } = raw
  if (typeof service !== 'string' || typeof url !== 'string' || typeof node !== 'string') return undefined
  if (typeof registeredAt !== 'number' || !isRecord(meta)) return undefined
  return { service, url, meta, node, registeredAt }
}

const serviceOf = (key: string): string => key.slice(PREFIX.length, key.lastIndexOf('/'))

/**
 * A service registry (docs/recipes/registry.md): each registration is an ephemeral key of
 * the registering node, so it disappears everywhere when that node leaves or is declared
 * dead; health comes from membership.
 *
 * @example
 * const reg = registry(node)
 * await reg.register({ service: 'billing', url: 'http://10.0.0.5:8080', meta: { zone: 'a' } })
 * reg.watch('billing', (instances) => balancer.set(instances.map((i) => i.url)))
 */
export const registry = (node: MeshNode): Registry => {
  const view: PrefixView = prefixView(node, PREFIX)
  const watchers = new Map<string, Set<(instances: ServiceInstance[]) => void>>()

  const health = (id: string): MemberState | undefined => node.members().find((m) => m.id === id)?.state
  const lookup = (service: string): ServiceInstance[] => {
    const found: ServiceInstance[] = []
    const prefix = `${PREFIX}${service}/`
    for (const [key, raw] of view.values) {
      if (!key.startsWith(prefix) || key.indexOf('/', prefix.length) !== -1) continue
      const s = parse(raw)
      if (!s || s.service !== service) continue
      const state = health(s.node)
      if (state !== 'alive' && state !== 'suspect') continue
      const nodeName = node.members().find((m) => m.id === s.node)?.name ?? s.node
      found.push({ id: key.slice(prefix.length), ...s, nodeName, health: state })
    }
    return found.sort((a, b) => a.registeredAt - b.registeredAt || a.id.localeCompare(b.id))
  }
  const notify = (service: string): void => {
    const set = watchers.get(service)
    if (!set || set.size === 0) return
    const instances = lookup(service)
    for (const listener of set) {
      try {
        listener(instances)
      } catch (error) {
        node.logger.error('registry watcher failed', { service, error: errorText(error) })
      }
    }
  }
  const offView = view.onChange((changes) => {
    for (const service of new Set(changes.map((c) => serviceOf(c.key)))) notify(service)
  })
  // A node's health changes the instances it registered.
  const onMember = ({ member }: { member: { id: string } }) => {
    const services = new Set<string>()
    for (const [key, raw] of view.values) if (parse(raw)?.node === member.id) services.add(serviceOf(key))
    for (const service of services) notify(service)
  }
  const offMembers = (['member:join', 'member:suspect', 'member:leave', 'member:dead'] as const).map((event) =>
    node.on(event, onMember),
  )

  return {
    async register({ service, url, meta = {} }) {
      if (typeof service !== 'string' || service.length === 0 || service.length > 200 || service.includes('/')) {
        throw new MeshError('bad_request', 'service must be a name of 1 to 200 characters without "/"')
      }
      if (typeof url !== 'string') throw new MeshError('bad_request', 'url must be a string')
      if (!isRecord(meta)) throw new MeshError('bad_request', 'meta must be a JSON object')
      const id = `${node.id}.${globalThis.crypto.randomUUID()}`
      const key = `${PREFIX}${service}/${id}`
      const value = { service, url, meta, node: node.id, registeredAt: Date.now() }
      await node.put(key, value, { ephemeral: true })
      return {
        id,
        unregister: async () => {
          await node.pop(key)
        },
      }
    },
    lookup,
    watch(service, listener) {
      let set = watchers.get(service)
      if (!set) watchers.set(service, (set = new Set()))
      set.add(listener)
      return () => {
        set.delete(listener)
        if (set.size === 0) watchers.delete(service)
      }
    },
    close() {
      offView()
      view.close()
      for (const off of offMembers) off()
      watchers.clear()
    },
  }
}
