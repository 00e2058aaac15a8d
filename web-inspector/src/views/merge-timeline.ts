import { clock, h, replace, shorten } from '../dom.js'
import type { ClusterModel, MergeEpisode } from '../model.js'

/** Episodes drawn; older ones stay in the model. */
const SHOWN = 30

const pairs = (model: ClusterModel, episode: MergeEpisode): string[] => {
  const seen = new Map<string, string>()
  for (const m of episode.merges) {
    const names = [model.nameOf(m.node), model.nameOf(m.peer)].sort()
    seen.set(names.join('|'), `${names.join(' ↔ ')} (${m.relation}, ${m.policy})`)
  }
  return [...seen.values()]
}

const episodeView = (model: ClusterModel, episode: MergeEpisode) => {
  const conflicts = [...episode.conflicts.values()]
  const reachable = episode.agreedNodes
  return h(
    'li',
    {
      class: `episode${conflicts.length ? ' has-conflicts' : ''}${episode.quarantines.length ? ' quarantined' : ''}`,
      'data-episode': episode.id,
      'data-agreed': String(episode.agreedAt !== undefined),
    },
    h(
      'header',
      {},
      h(
        'strong',
        {},
        conflicts.length ? `Merge #${episode.id}: ${conflicts.length} conflicting` : `Merge #${episode.id}`,
      ),
      h('span', { class: 'muted' }, ` ${clock(episode.start)} · `),
      pairs(model, episode).join(', '),
    ),
    conflicts.length > 0 &&
      h(
        'table',
        { class: 'conflicts' },
        h('thead', {}, h('tr', {}, h('th', {}, 'key'), h('th', {}, 'values before the merge'), h('th', {}, 'winner'))),
        h(
          'tbody',
          {},
          conflicts.map((c) =>
            h(
              'tr',
              { class: 'conflict', 'data-key': c.key },
              h('td', { class: 'conflict-key' }, shorten(c.key, 32)),
              h(
                'td',
                { class: 'conflict-values' },
                [...c.values.entries()]
                  .map(([node, value]) => ({ name: model.nameOf(node), value }))
                  .sort((a, b) => a.name.localeCompare(b.name))
                  .map(({ name, value }) =>
                    h(
                      'span',
                      { class: `value${value === c.winner ? ' won' : ' lost'}`, 'data-node': name, title: value },
                      `${name}: ${shorten(value, 32)}`,
                    ),
                  ),
              ),
              h('td', { class: 'winner', title: c.winner ?? '' }, `✓ ${shorten(c.winner ?? '?', 32)}`),
            ),
          ),
        ),
      ),
    episode.quarantines.map((q) =>
      h(
        'div',
        { class: `callout ${q.policy === 'exception' ? 'quarantine' : 'warning'}` },
        q.policy === 'exception'
          ? `⚠ ${model.nameOf(q.node)} quarantined room "${q.room}" with ${model.nameOf(q.peer)}: `
          : `${model.nameOf(q.node)} warned about a divergence with ${model.nameOf(q.peer)}: `,
        shorten(q.keys.join(', ') || '(no visible keys)', 80),
      ),
    ),
    h(
      'footer',
      { class: episode.agreedAt === undefined ? 'pending' : 'agreed' },
      episode.agreedAt === undefined
        ? 'waiting for every node to agree…'
        : `✓ all ${reachable} reachable node${reachable === 1 ? '' : 's'} agreed at ${clock(episode.agreedAt)} (+${Math.max(
            0,
            episode.agreedAt - episode.receivedAt,
          )} ms after the last merge)`,
    ),
  )
}

/**
 * The merge timeline: each time divergent histories met (a heal), which keys both sides had
 * changed, the value each node held, which one won, and when every node agreed again.
 */
export const createMergeView = (root: HTMLElement, model: ClusterModel) => {
  const list = h('ol', { class: 'episodes' })
  replace(root, list)
  const render = (): void => {
    const episodes = model.episodes().slice(0, SHOWN)
    if (episodes.length === 0) {
      replace(list, h('li', { class: 'empty muted' }, 'No merges yet. Cut a link, write on both sides, heal.'))
      return
    }
    replace(
      list,
      episodes.map((e) => episodeView(model, e)),
    )
  }
  return { render }
}
