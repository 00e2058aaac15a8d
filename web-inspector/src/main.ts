import './style.css'
import { ControlClient, ControlError, tokenFromHash } from './control.js'
import { h, replace } from './dom.js'
import { openWebSocketFeed } from './feed.js'
import { ClusterModel, type NodeEntry } from './model.js'
import { createCommitsView } from './views/commit-log.js'
import { createControlsView, type ControlActions } from './views/controls.js'
import { createGraphView } from './views/graph.js'
import { createKeysView } from './views/keys-table.js'
import { createMergeView } from './views/merge-timeline.js'
import { createNodesView } from './views/nodes.js'

/**
 * The node this page was loaded from: `/mesh/inspector/` → `ws://HOST/mesh`. `?node=URL`
 * overrides it, for the Vite dev server.
 */
const startUrl = (): string => {
  const override = new URLSearchParams(location.search).get('node')
  if (override) return override
  const base = location.pathname.replace(/\/inspector(\/.*)?$/, '')
  return `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}${base}`
}

const panel = (cls: string, title: string, ...body: HTMLElement[]) =>
  h('section', { class: `panel ${cls}` }, h('h2', {}, title), ...body)

const token = tokenFromHash(location.hash)
const control = token ? new ControlClient(token) : undefined

const graphRoot = h('div', { class: 'graph-root' })
const controlsRoot = h('div', { class: 'controls' })
const keysRoot = h('div', { class: 'keys-root' })
const nodesRoot = h('div', { class: 'cards' })
const mergesRoot = h('div', { class: 'merges-root' })
const commitsRoot = h('div', { class: 'commits-root' })
const connection = h('span', { class: 'connection' })
const agreement = h('span', { class: 'agreement' })
const notice = h('div', { class: 'notice', hidden: true })

document.body.append(
  h(
    'header',
    { class: 'top' },
    h('h1', {}, 'Mesh inspector'),
    connection,
    agreement,
    token && h('span', { class: 'demo-badge', title: 'the page URL carries a control token' }, 'demo controls on'),
  ),
  notice,
  h(
    'main',
    { class: 'layout' },
    panel('graph-panel', 'Cluster', graphRoot, ...(token ? [controlsRoot] : [])),
    h('div', { class: 'right' }, panel('keys-panel', 'Keys', keysRoot), panel('nodes-panel', 'Nodes', nodesRoot)),
    h(
      'div',
      { class: 'bottom' },
      panel('merges-panel', 'Merge timeline', mergesRoot),
      panel('commits-panel', 'Commit log', commitsRoot),
    ),
  ),
)

let frame = 0
const schedule = (): void => {
  if (frame === 0) frame = requestAnimationFrame(draw)
}

const showNotice = (text: string | undefined): void => {
  notice.hidden = text === undefined
  notice.textContent = text ?? ''
}

const fetchCuts = (entry: NodeEntry): void => {
  if (!control || !entry.id) return
  const id = entry.id
  control.cuts(entry.httpBase).then(
    (answer) => model.setCuts(id, answer.cuts),
    (error: unknown) => {
      // 404: that node runs without the control API; the controls then fail with its message.
      if (error instanceof ControlError && error.status === 401) {
        showNotice(`${entry.name} refused the control token in this page's URL: the demo controls will fail.`)
      }
      schedule()
    },
  )
}

const model = new ClusterModel({ openFeed: openWebSocketFeed, onUpdate: schedule, onLoaded: fetchCuts })

/** Runs one control call per node and reports every failure, not just the first. */
const both = async (calls: Array<[NodeEntry, Promise<{ cuts: string[] }>]>): Promise<void> => {
  const results = await Promise.allSettled(calls.map(([, call]) => call))
  const failures: string[] = []
  results.forEach((result, i) => {
    const entry = calls[i]?.[0]
    if (!entry?.id) return
    if (result.status === 'fulfilled') model.setCuts(entry.id, result.value.cuts)
    else
      failures.push(`${entry.name}: ${result.reason instanceof Error ? result.reason.message : String(result.reason)}`)
  })
  schedule()
  if (failures.length > 0) throw new Error(failures.join('; '))
}

const link = (action: 'cut' | 'heal') => (a: NodeEntry, b: NodeEntry) => {
  if (!control || !a.id || !b.id) return Promise.reject(new Error('no control token'))
  // A link has two ends; each node must refuse the other, or the one left would redial.
  return both([
    [a, control.cutOne(a.httpBase, b.id, action)],
    [b, control.cutOne(b.httpBase, a.id, action)],
  ])
}

const actions: ControlActions = {
  cut: link('cut'),
  heal: link('heal'),
  healAll: async () => {
    if (!control) throw new Error('no control token')
    const nodes = model.nodes().filter((n) => n.id !== undefined && !n.left && n.feed === 'open')
    // One node's heals run in order, so the cut list of its last answer is the final one.
    const healNode = async (n: NodeEntry): Promise<{ cuts: string[] }> => {
      let answer = await control.cuts(n.httpBase)
      for (const peer of answer.cuts) answer = await control.cutOne(n.httpBase, peer, 'heal')
      return answer
    }
    await both(nodes.map((n) => [n, healNode(n)]))
  },
  write: async (node, key, value) => {
    if (!control) throw new Error('no control token')
    await control.write(node.httpBase, key, value)
  },
}

const controls = token ? createControlsView(controlsRoot, model, actions) : undefined
const graph = createGraphView(graphRoot, model, {
  onLinkClick: controls ? (a, b, state) => controls.toggle(a, b, state !== 'cut') : undefined,
})
const nodes = createNodesView(nodesRoot, model)
const keys = createKeysView(keysRoot, model, schedule)
const merges = createMergeView(mergesRoot, model)
const commits = createCommitsView(commitsRoot, model, schedule)

const drawHeader = (): void => {
  const all = model.nodes().filter((n) => !n.left)
  const online = model.online()
  const lights = model.lightPeers().length
  const first = all[0]
  replace(
    connection,
    `${online.length}/${all.length} node${all.length === 1 ? '' : 's'} live · ${lights} light peer${lights === 1 ? '' : 's'}`,
    first && h('span', { class: 'muted' }, ` · via ${new URL(startUrl()).host}`),
  )
  const divergent = model.divergentKeys().size
  const cut = model.links().filter((l) => l.state === 'cut').length
  const agreed = model.agreed()
  agreement.className = `agreement ${agreed ? 'ok' : divergent > 0 ? 'bad' : 'pending'}`
  agreement.dataset.agreed = String(agreed)
  agreement.textContent = [
    agreed
      ? '● all nodes agree'
      : divergent > 0
        ? `⚠ ${divergent} divergent key${divergent === 1 ? '' : 's'}`
        : '◌ syncing',
    cut > 0 ? ` · ✂ ${cut} link${cut === 1 ? '' : 's'} cut` : '',
  ].join('')
  document.title = `Mesh inspector · ${online.map((n) => n.name).join(', ') || 'connecting'}`
}

/**
 * Views that rebuild many elements (graph, node cards, timeline, commit log) redraw at most
 * this often; the keys table, which draws only its visible rows, follows every frame.
 */
const SLOW_VIEW_MS = 250
let lastSlowDraw = -Infinity
let slowTimer: ReturnType<typeof setTimeout> | undefined
/** The header counts divergent keys, so key changes redraw it too (on the slow schedule). */
let headerDue = true

function draw(now: number): void {
  frame = 0
  const dirty = model.dirty
  if (dirty.keys) {
    keys.render()
    headerDue = true
  }
  dirty.keys = false
  const slowDirty = headerDue || dirty.graph || dirty.nodes || dirty.merges || dirty.commits || dirty.controls
  if (!slowDirty) return
  const wait = lastSlowDraw + SLOW_VIEW_MS - now
  if (wait > 0) {
    slowTimer ??= setTimeout(() => {
      slowTimer = undefined
      schedule()
    }, wait)
    return
  }
  lastSlowDraw = now
  if (dirty.graph) graph.render()
  if (dirty.graph || dirty.nodes) nodes.render()
  if (dirty.merges) merges.render()
  if (dirty.commits) commits.render()
  if (dirty.controls) controls?.render()
  drawHeader()
  headerDue = false
  dirty.graph = dirty.nodes = dirty.merges = dirty.commits = dirty.controls = false
}

model.start(startUrl())
schedule()
