import { h, replace } from '../dom.js'
import type { ClusterModel, NodeEntry } from '../model.js'
import type { JsonValue } from '../types.js'

/** What the demo controls ask the page to do. */
export interface ControlActions {
  cut(a: NodeEntry, b: NodeEntry): Promise<void>
  heal(a: NodeEntry, b: NodeEntry): Promise<void>
  healAll(): Promise<void>
  write(node: NodeEntry, key: string, value: JsonValue): Promise<void>
}

/** Text that is valid JSON is sent as that value; anything else as a string. */
export const parseValue = (text: string): JsonValue => {
  try {
    return JSON.parse(text) as JsonValue
  } catch {
    return text
  }
}

/**
 * Demo controls, shown only when the page URL carries a control token: cut or heal the link
 * between two nodes, and write a key on a chosen node, to cause a divergence and watch it merge.
 */
export const createControlsView = (root: HTMLElement, model: ClusterModel, actions: ControlActions) => {
  const linkA = h('select', { class: 'link-a', 'aria-label': 'first node' })
  const linkB = h('select', { class: 'link-b', 'aria-label': 'second node' })
  const writeNode = h('select', { class: 'write-node', 'aria-label': 'node to write on' })
  const key = h('input', { class: 'write-key', placeholder: 'key', 'aria-label': 'key', value: 'color' })
  const value = h('input', {
    class: 'write-value',
    placeholder: 'value (JSON or text)',
    'aria-label': 'value',
    value: '"blue"',
  })
  const message = h('div', { class: 'control-message', role: 'status' })
  const buttons: HTMLButtonElement[] = []

  const run = async (label: string, task: () => Promise<void>): Promise<void> => {
    for (const b of buttons) b.disabled = true
    message.className = 'control-message'
    message.textContent = `${label}…`
    try {
      await task()
      message.className = 'control-message ok'
      message.textContent = `✓ ${label}`
    } catch (error) {
      message.className = 'control-message bad'
      message.textContent = `✗ ${label}: ${error instanceof Error ? error.message : String(error)}`
    } finally {
      for (const b of buttons) b.disabled = false
    }
  }

  const selected = (select: HTMLSelectElement): NodeEntry | undefined => model.node(select.value)
  const pair = (): [NodeEntry, NodeEntry] => {
    const a = selected(linkA)
    const b = selected(linkB)
    if (!a || !b) throw new Error('pick two nodes')
    if (a === b) throw new Error('pick two different nodes')
    return [a, b]
  }
  const button = (label: string, cls: string, onClick: () => void) => {
    const el = h('button', { type: 'button', class: cls, onclick: onClick }, label)
    buttons.push(el)
    return el
  }

  const cutButton = button('Cut', 'cut', () => {
    void run(`cut ${linkA.selectedOptions[0]?.text ?? '?'} ↔ ${linkB.selectedOptions[0]?.text ?? '?'}`, async () => {
      const [a, b] = pair()
      await actions.cut(a, b)
    })
  })
  const healButton = button('Heal', 'heal', () => {
    void run(`heal ${linkA.selectedOptions[0]?.text ?? '?'} ↔ ${linkB.selectedOptions[0]?.text ?? '?'}`, async () => {
      const [a, b] = pair()
      await actions.heal(a, b)
    })
  })
  const healAllButton = button('Heal all', 'heal-all', () => void run('heal every link', () => actions.healAll()))
  const writeButton = button('Write', 'write', () => {
    const node = selected(writeNode)
    void run(`write ${key.value} on ${node?.name ?? '?'}`, async () => {
      if (!node) throw new Error('pick a node')
      if (key.value === '') throw new Error('type a key')
      await actions.write(node, key.value, parseValue(value.value))
    })
  })

  replace(
    root,
    h('h2', {}, 'Demo controls'),
    h(
      'div',
      { class: 'control-row' },
      h('span', { class: 'label' }, 'link'),
      linkA,
      '↔',
      linkB,
      cutButton,
      healButton,
      healAllButton,
    ),
    h('div', { class: 'control-row' }, h('span', { class: 'label' }, 'write on'), writeNode, key, value, writeButton),
    message,
  )

  /** Lets a click on a graph link run through the same feedback line. */
  const toggle = (a: NodeEntry, b: NodeEntry, cut: boolean): void =>
    void run(`${cut ? 'cut' : 'heal'} ${a.name} ↔ ${b.name}`, () => (cut ? actions.cut(a, b) : actions.heal(a, b)))

  let signature = ''
  const render = (): void => {
    const nodes = model.nodes().filter((n) => n.id !== undefined && !n.left)
    const next = nodes.map((n) => `${n.id ?? ''}=${n.name}`).join(',')
    if (next === signature) return
    signature = next
    const fill = (select: HTMLSelectElement, fallback: number, avoid?: string) => {
      const current = select.value
      replace(
        select,
        nodes.map((n) => h('option', { value: n.id ?? '' }, n.name)),
      )
      const keep = nodes.some((n) => n.id === current) && current !== avoid
      const candidates = nodes.filter((n) => n.id !== avoid)
      select.value = keep ? current : (candidates[Math.min(fallback, candidates.length - 1)]?.id ?? '')
    }
    fill(linkA, 0)
    // Two different nodes by default: a link needs two ends.
    fill(linkB, 0, linkA.value)
    fill(writeNode, 0)
  }

  return { render, toggle }
}
