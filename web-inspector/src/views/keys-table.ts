import { h, replace, shorten } from '../dom.js'
import type { ClusterModel, NodeEntry } from '../model.js'

/** Fixed row height: it is what makes virtual scrolling a division. */
const ROW_HEIGHT = 26
/** Rows drawn above and below the visible ones, so fast scrolling shows no gaps. */
const OVERSCAN = 8

const columns = (count: number): string => `minmax(9rem, 1.3fr) repeat(${count}, minmax(5rem, 1fr))`

/**
 * Every key × every node's value. Divergent keys (values differ between reachable nodes, or
 * some lack the key) are highlighted. Virtualised: only the visible rows exist in the DOM, so
 * 10k keys × 10 nodes scroll as smoothly as ten.
 */
export const createKeysView = (root: HTMLElement, model: ClusterModel, schedule: () => void) => {
  let filter = ''
  let divergentOnly = false
  const input = h('input', {
    type: 'search',
    class: 'key-filter',
    placeholder: 'filter keys',
    'aria-label': 'filter keys',
  })
  const onlyBox = h('input', { type: 'checkbox', class: 'divergent-only' })
  const summary = h('span', { class: 'summary' })
  const head = h('div', { class: 'kt-head kt-row' })
  const spacer = h('div', { class: 'kt-spacer' })
  const rows = h('div', { class: 'kt-rows' })
  const body = h('div', { class: 'kt-body' }, spacer, rows)
  replace(
    root,
    h('div', { class: 'toolbar' }, input, h('label', {}, onlyBox, ' divergent only'), summary),
    h('div', { class: 'kt' }, head, body),
  )

  const redraw = () => {
    model.dirty.keys = true
    schedule()
  }
  input.addEventListener('input', () => {
    filter = input.value
    body.scrollTop = 0
    redraw()
  })
  onlyBox.addEventListener('change', () => {
    divergentOnly = onlyBox.checked
    body.scrollTop = 0
    redraw()
  })
  body.addEventListener('scroll', redraw, { passive: true })

  let headNodes = ''
  const render = (): void => {
    const nodes = model.nodes().filter((n) => !n.left && n.id !== undefined)
    const online = new Set(model.online())
    const template = columns(nodes.length)
    const signature = nodes.map((n) => `${n.name}:${online.has(n) ? 'online' : 'offline'}`).join(',')
    if (signature !== headNodes) {
      headNodes = signature
      head.style.gridTemplateColumns = template
      replace(
        head,
        h('div', { class: 'kt-key' }, 'key'),
        nodes.map((n) =>
          h(
            'div',
            {
              class: `kt-node${online.has(n) ? '' : ' stale'}`,
              title: online.has(n) ? n.peerUrl : 'offline: last known values',
            },
            n.name,
          ),
        ),
      )
    }

    const keys = model.filteredKeys(filter, divergentOnly)
    const divergent = model.divergentKeys()
    const total = model.keys().length
    summary.textContent = `${total.toLocaleString()} key${total === 1 ? '' : 's'} · ${divergent.size.toLocaleString()} divergent${
      keys.length !== total ? ` · ${keys.length.toLocaleString()} shown` : ''
    }`
    summary.classList.toggle('bad', divergent.size > 0)

    spacer.style.height = `${keys.length * ROW_HEIGHT}px`
    const first = Math.max(0, Math.floor(body.scrollTop / ROW_HEIGHT) - OVERSCAN)
    const last = Math.min(keys.length, Math.ceil((body.scrollTop + body.clientHeight) / ROW_HEIGHT) + OVERSCAN)
    rows.style.transform = `translateY(${first * ROW_HEIGHT}px)`
    const drawn: HTMLElement[] = []
    for (let i = first; i < last; i++) {
      const key = keys[i] as string
      drawn.push(row(key, nodes, online, divergent.has(key), template))
    }
    if (keys.length === 0) {
      drawn.push(h('div', { class: 'kt-empty' }, total === 0 ? 'no keys yet' : 'no key matches'))
    }
    replace(rows, drawn)
  }

  const row = (key: string, nodes: NodeEntry[], online: Set<NodeEntry>, divergent: boolean, template: string) => {
    const el = h(
      'div',
      { class: `kt-row key-row${divergent ? ' divergent' : ''}`, 'data-key': key, 'data-divergent': String(divergent) },
      h('div', { class: 'kt-key', title: key }, shorten(key, 40)),
      nodes.map((n) => {
        const text = n.data.get(key)
        return h(
          'div',
          {
            class: `kt-cell${text === undefined ? ' absent' : ''}${online.has(n) ? '' : ' stale'}`,
            'data-node': n.name,
            title: text ?? '(absent)',
          },
          text === undefined ? '—' : shorten(text),
        )
      }),
    )
    el.style.gridTemplateColumns = template
    return el
  }

  return { render }
}
