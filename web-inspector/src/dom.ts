/** A child of {@link h}: nodes, text, or nothing (skipped, so conditionals read naturally). */
export type Child = Node | string | number | null | undefined | false | Child[]

/** Attributes of {@link h}: `class`, `data-*`, `aria-*`, plain attributes and `on*` listeners. */
export type Props = Record<string, string | number | boolean | null | undefined | EventListener>

const SVG_NS = 'http://www.w3.org/2000/svg'

const append = (parent: Node, child: Child): void => {
  if (child === null || child === undefined || child === false) return
  if (Array.isArray(child)) for (const c of child) append(parent, c)
  else parent.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)))
}

const apply = (el: Element, props: Props): void => {
  for (const [name, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue
    if (typeof value === 'function') el.addEventListener(name.slice(2).toLowerCase(), value)
    else el.setAttribute(name, value === true ? '' : String(value))
  }
}

/**
 * Creates an HTML element: the page's whole "framework". Views rebuild the small parts that
 * changed, once per animation frame, so there is no diffing to pay for.
 * @example h('td', { class: 'divergent', 'data-key': key }, value)
 */
export const h = <K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Props = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] => {
  const el = document.createElement(tag)
  apply(el, props)
  append(el, children)
  return el
}

/** Creates an SVG element (for the cluster graph). */
export const s = <K extends keyof SVGElementTagNameMap>(
  tag: K,
  props: Props = {},
  ...children: Child[]
): SVGElementTagNameMap[K] => {
  const el = document.createElementNS(SVG_NS, tag)
  apply(el, props)
  append(el, children)
  return el
}

/** Replaces all children of `parent`. */
export const replace = (parent: Element, ...children: Child[]): void => {
  const fragment = document.createDocumentFragment()
  append(fragment, children)
  parent.replaceChildren(fragment)
}

/** `12:03:04.123` in local time. */
export const clock = (time: number): string => {
  const d = new Date(time)
  const pad = (n: number, w = 2) => String(n).padStart(w, '0')
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`
}

/** Shortens JSON text for a table cell; the full text goes in the cell's title. */
export const shorten = (text: string, max = 48): string => (text.length > max ? `${text.slice(0, max - 1)}…` : text)
