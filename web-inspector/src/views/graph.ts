import { h, replace, s } from '../dom.js'
import type { ClusterModel, LinkState, NodeEntry } from '../model.js'

const WIDTH = 420
const HEIGHT = 316
const CX = WIDTH / 2
const CY = HEIGHT / 2
const NODE_RING = 100
/** Light peers sit this far outside the node ring. */
const LIGHT_GAP = 34

const LEGEND: Array<[LinkState, string]> = [
  ['connected', 'connected'],
  ['syncing', 'syncing'],
  ['reconnecting', 'reconnecting'],
  ['cut', 'cut'],
  ['quarantined', 'quarantined'],
]

/** Options of {@link createGraphView}. */
export interface GraphViewOptions {
  /** Clicking a link toggles it (cut ↔ heal); only given in demo mode. */
  onLinkClick?: (a: NodeEntry, b: NodeEntry, state: LinkState) => void
}

const ring = (index: number, count: number, radius: number): { x: number; y: number } => {
  if (count === 1) return { x: CX, y: CY }
  const angle = -Math.PI / 2 + (2 * Math.PI * index) / count
  return { x: CX + radius * Math.cos(angle), y: CY + radius * Math.sin(angle) }
}

/**
 * The cluster graph: nodes on a ring with the link between every pair (connected,
 * reconnecting, cut, quarantined), light peers on an outer ring. Redrawn as a whole when
 * membership or link state changes; a few dozen SVG elements cost nothing to rebuild.
 */
export const createGraphView = (root: HTMLElement, model: ClusterModel, options: GraphViewOptions = {}) => {
  const svg = s('svg', {
    class: 'graph',
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    role: 'img',
    'aria-label': 'cluster graph',
  })
  const legend = h(
    'div',
    { class: 'legend' },
    LEGEND.map(([state, label]) => h('span', { class: `legend-item state-${state}` }, h('i'), label)),
    h('span', { class: 'legend-item light' }, h('i'), 'light peer'),
  )
  replace(root, svg, legend)

  const render = (): void => {
    const nodes = model.nodes()
    const at = new Map<NodeEntry, { x: number; y: number }>()
    // Many nodes need a wider ring to keep their circles apart.
    const radius = nodes.length > 6 ? NODE_RING + 14 : NODE_RING
    nodes.forEach((entry, i) => at.set(entry, ring(i, nodes.length, radius)))

    const links = model.links().map(({ a, b, state }) => {
      const pa = at.get(a)
      const pb = at.get(b)
      if (!pa || !pb || state === 'unknown') return null
      const mid = { x: (pa.x + pb.x) / 2, y: (pa.y + pb.y) / 2 }
      const click = options.onLinkClick
      return s(
        'g',
        {
          class: `link state-${state}${click ? ' clickable' : ''}`,
          'data-a': a.name,
          'data-b': b.name,
          'data-state': state,
          onclick: click ? () => click(a, b, state) : undefined,
        },
        s('title', {}, `${a.name} ↔ ${b.name}: ${state === 'none' ? 'no direct link' : state}`),
        s('line', { class: 'link-hit', x1: pa.x, y1: pa.y, x2: pb.x, y2: pb.y }),
        s('line', { class: 'link-line', x1: pa.x, y1: pa.y, x2: pb.x, y2: pb.y }),
        state === 'cut' && s('text', { class: 'link-mark', x: mid.x, y: mid.y + 5 }, '✂'),
        state === 'quarantined' && s('text', { class: 'link-mark', x: mid.x, y: mid.y + 5 }, '⚠'),
      )
    })

    const lights = model.lightPeers()
    const lightDots = lights.map((member, i) => {
      const p = ring(i, Math.max(lights.length, 2), radius + LIGHT_GAP)
      return s(
        'g',
        { class: 'light-peer', 'data-id': member.id },
        s(
          'title',
          {},
          `${member.name} (light peer, room ${typeof member.meta.room === 'string' ? member.meta.room : 'default'})`,
        ),
        s('circle', { cx: p.x, cy: p.y, r: 6 }),
      )
    })

    const nodeDots = nodes.map((entry) => {
      const p = at.get(entry) ?? { x: CX, y: CY }
      const health = model.health(entry)
      const tabs = entry.status?.lightPeers ?? 0
      const quarantined = (entry.status?.conflicts.length ?? 0) > 0
      return s(
        'g',
        {
          class: `node health-${health}${quarantined ? ' quarantined' : ''}`,
          'data-name': entry.name,
          'data-health': health,
          transform: `translate(${p.x.toFixed(1)} ${p.y.toFixed(1)})`,
        },
        s('title', {}, `${entry.name} · ${health} · ${entry.peerUrl}`),
        s('circle', { r: 22 }),
        s('text', { class: 'node-label', y: 5 }, entry.name.length > 8 ? `${entry.name.slice(0, 7)}…` : entry.name),
        health !== 'alive' && s('text', { class: 'node-sub', y: 36 }, health),
        tabs > 0 &&
          s(
            'g',
            { class: 'tabs-badge', transform: 'translate(17 -17)' },
            s('title', {}, `${tabs} light peer${tabs > 1 ? 's' : ''} connected to ${entry.name}`),
            s('circle', { r: 8 }),
            s('text', { y: 3.5 }, tabs),
          ),
      )
    })

    replace(
      svg,
      s('g', { class: 'links' }, links),
      s('g', { class: 'lights' }, lightDots),
      s('g', { class: 'nodes' }, nodeDots),
    )
  }

  return { render }
}
