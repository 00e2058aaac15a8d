import { clock, h, replace, shorten } from '../dom.js'
import type { ClusterModel } from '../model.js'

/** Rows drawn after filtering; the model keeps more. */
const SHOWN = 100

const option = (value: string, label: string) => h('option', { value }, label)

/**
 * The commit log: recent commits on every node (origin, how it arrived, size, keys),
 * newest first, filterable by the node that applied it, its origin and a key.
 */
export const createCommitsView = (root: HTMLElement, model: ClusterModel, schedule: () => void) => {
  const onNode = h('select', { class: 'commit-node', 'aria-label': 'applied on node' })
  const origin = h('select', { class: 'commit-origin', 'aria-label': 'origin node' })
  const key = h('input', {
    type: 'search',
    class: 'commit-key',
    placeholder: 'filter by key',
    'aria-label': 'filter commits by key',
  })
  const count = h('span', { class: 'summary' })
  const body = h('tbody')
  replace(
    root,
    h('div', { class: 'toolbar' }, h('label', {}, 'on ', onNode), h('label', {}, 'origin ', origin), key, count),
    h(
      'div',
      { class: 'scroll' },
      h(
        'table',
        { class: 'commits' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ['time', 'on', 'origin', 'via', 'bytes', 'keys'].map((t) => h('th', {}, t)),
          ),
        ),
        body,
      ),
    ),
  )
  const redraw = () => {
    model.dirty.commits = true
    schedule()
  }
  for (const el of [onNode, origin]) el.addEventListener('change', redraw)
  key.addEventListener('input', redraw)

  let nodeSignature = ''
  const syncOptions = (): void => {
    const nodes = model.nodes().filter((n) => n.id !== undefined)
    const signature = nodes.map((n) => `${n.id ?? ''}=${n.name}`).join(',')
    if (signature === nodeSignature) return
    nodeSignature = signature
    for (const [select, all] of [
      [onNode, 'all nodes'],
      [origin, 'any'],
    ] as const) {
      const current = select.value
      replace(
        select,
        option('', all),
        nodes.map((n) => option(n.id ?? '', n.name)),
      )
      select.value = nodes.some((n) => n.id === current) ? current : ''
    }
  }

  const via = (text: string): string => (text.startsWith('peer:') ? `peer ${model.nameOf(text.slice(5))}` : text)

  const render = (): void => {
    syncOptions()
    const commits = model.commits({
      on: onNode.value || undefined,
      origin: origin.value || undefined,
      key: key.value.trim() || undefined,
      limit: SHOWN,
    })
    count.textContent = commits.length >= SHOWN ? `latest ${SHOWN}` : `${commits.length} shown`
    replace(
      body,
      commits.map((c) =>
        h(
          'tr',
          { class: 'commit', 'data-node': model.nameOf(c.node), 'data-origin': model.nameOf(c.origin) },
          h('td', { class: 'muted' }, clock(c.time)),
          h('td', {}, model.nameOf(c.node)),
          h('td', {}, model.nameOf(c.origin)),
          h('td', { class: 'muted' }, via(c.via)),
          h('td', { class: 'num' }, c.bytes.toLocaleString()),
          h(
            'td',
            { class: 'keys', title: c.keys.slice(0, 50).join(', ') },
            c.room === 'default' ? '' : `[${c.room}] `,
            shorten(c.keys.slice(0, 20).join(', ') || '—', 60),
            c.keys.length > 1 ? h('span', { class: 'muted' }, ` (${c.keys.length})`) : '',
          ),
        ),
      ),
    )
  }
  return { render }
}
