import { h, replace, shorten } from '../dom.js'
import type { ClusterModel, NodeEntry } from '../model.js'
import { clockSum } from '../relation.js'

const plural = (count: number, noun: string): string => `${count.toLocaleString()} ${noun}${count === 1 ? '' : 's'}`

const bytes = (n: number): string =>
  n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`

const ago = (time: number): string => {
  const seconds = Math.max(0, Math.round((Date.now() - time) / 1000))
  return seconds < 120 ? `${seconds} s ago` : `${Math.round(seconds / 60)} min ago`
}

/** The storage line of a node that persists: bytes kept, last compaction, fsync latency. */
const storageFacts = (p: NonNullable<NonNullable<NodeEntry['status']>['persistence']>) => {
  const syncs = p.storage.syncs ?? 0
  return h(
    'div',
    { class: 'facts storage', title: 'persistence: snapshot + log bytes, last compaction, mean fsync latency' },
    h('span', {}, `stored ${bytes(p.snapshotBytes + p.logBytes)}`),
    h('span', {}, p.lastCompactionAt > 0 ? `compacted ${ago(p.lastCompactionAt)}` : 'not compacted yet'),
    syncs > 0 && h('span', {}, `fsync ${((p.storage.syncMsTotal ?? 0) / syncs).toFixed(1)} ms`),
    (p.appendFailures > 0 || p.compactionFailures > 0) &&
      h('span', { class: 'warn' }, `${p.appendFailures + p.compactionFailures} storage failures`),
  )
}

/** State vector entries shown before the rest is summarised. */
const SV_SHOWN = 4

const stateVector = (entry: NodeEntry) => {
  const sv = entry.status?.stateVector ?? {}
  const entries = Object.entries(sv).sort((a, b) => b[1] - a[1])
  const full = entries.map(([client, clock]) => `${client}:${clock}`).join('  ')
  return h(
    'div',
    { class: 'sv', title: `state vector (Yjs client:clock)\n${full}` },
    h('span', { class: 'label' }, 'state vector '),
    entries.length === 0
      ? h('span', { class: 'muted' }, 'empty')
      : [
          entries.slice(0, SV_SHOWN).map(([client, clock]) => h('code', {}, `${client.slice(-5)}:${clock}`)),
          entries.length > SV_SHOWN && h('span', { class: 'muted' }, ` +${entries.length - SV_SHOWN}`),
          h('span', { class: 'muted' }, ` Σ${clockSum(sv)}`),
        ],
  )
}

const peerRows = (model: ClusterModel, entry: NodeEntry, others: NodeEntry[]) =>
  others.map((other) => {
    const link = model.linkState(entry, other)
    const live = model.relation(entry, other)
    const reports = model.peerReports(entry, other)
    const lastSync = reports.find((p) => p.relation !== null)?.relation ?? null
    const rooms = reports.flatMap((p) => Object.entries(p.rooms).map(([room, r]) => ({ room, state: r.state })))
    const pending = rooms.filter((r) => r.state !== 'synced')
    return h(
      'tr',
      { class: 'peer', 'data-peer': other.name, 'data-link': link, 'data-relation': live ?? 'unknown' },
      h('td', { class: 'peer-name' }, other.name),
      h('td', {}, h('span', { class: `chip link-${link}` }, link === 'none' ? 'no link' : link)),
      h(
        'td',
        { title: 'live: compared from both state vectors now' },
        h('span', { class: `chip rel-${live ?? 'unknown'}` }, live ?? '?'),
      ),
      h(
        'td',
        { class: 'muted', title: 'relation this link found at its last (re)sync' },
        lastSync ? `last sync ${lastSync}` : '',
      ),
      h(
        'td',
        {},
        pending.map((r) => h('span', { class: `chip room-${r.state}` }, `${r.room} ${r.state}`)),
      ),
    )
  })

/**
 * Per-node state: health, policy, sizes, state vector, and for every other node the link
 * state, the live history relation (equal / ahead / behind / diverged) and pending or
 * quarantined rooms, with quarantines called out.
 */
export const createNodesView = (root: HTMLElement, model: ClusterModel) => {
  const render = (): void => {
    const nodes = model.nodes()
    replace(
      root,
      nodes.map((entry) => {
        const health = model.health(entry)
        const status = entry.status
        const conflicts = status?.conflicts ?? []
        const others = nodes.filter((o) => o !== entry && !o.left)
        return h(
          'article',
          { class: `node-card health-${health}${conflicts.length ? ' quarantined' : ''}`, 'data-name': entry.name },
          h(
            'header',
            {},
            h('span', { class: `dot health-${health}` }),
            h('strong', {}, entry.name),
            h('span', { class: 'muted', title: entry.id ?? '' }, entry.id ? ` ${entry.id.slice(0, 8)}` : ''),
            h('span', { class: 'health' }, health),
          ),
          h(
            'div',
            { class: 'facts' },
            status
              ? [
                  h('span', {}, status.onConflict),
                  h('span', {}, plural(status.rooms.default?.keys ?? entry.data.size, 'key')),
                  h('span', {}, plural(status.commits, 'commit')),
                  h(
                    'span',
                    { title: 'light peers: browser tabs and y-websocket clients' },
                    plural(status.lightPeers, 'tab'),
                  ),
                  entry.cuts.size > 0 && h('span', { class: 'warn' }, `${entry.cuts.size} cut`),
                ]
              : h('span', { class: 'muted' }, entry.feed === 'connecting' ? 'connecting…' : 'no feed'),
          ),
          status && stateVector(entry),
          status?.persistence && storageFacts(status.persistence),
          status &&
            (status.routing ?? []).length > 0 &&
            h(
              'div',
              { class: 'facts routing', title: 'capability routing: shards owned of 4096, live actors' },
              (status.routing ?? []).map((r) =>
                h('span', {}, `${r.capability}: ${plural(r.shards, 'shard')}, ${plural(r.actors, 'actor')}`),
              ),
            ),
          conflicts.map((c) =>
            h(
              'div',
              { class: 'callout quarantine' },
              `⚠ room "${c.room}" quarantined with ${model.nameOf(c.peer)}: `,
              shorten(c.keys.join(', ') || '(no visible keys)', 80),
            ),
          ),
          !entry.left &&
            others.length > 0 &&
            h('table', { class: 'peers' }, h('tbody', {}, peerRows(model, entry, others))),
        )
      }),
    )
  }
  return { render }
}
