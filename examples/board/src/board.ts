/**
 * The feature-flag board page: every flag is a key `flag:<name>` in room `default`, so nodes
 * show the same flags under `GET /mesh/api/kv`. Open it in two tabs (or against two nodes)
 * and toggle away.
 *
 * Query parameters: `node` (repeatable or comma-separated `ws://host:port/mesh` URLs, in
 * failover order), `room`, `name`.
 */
import { MeshClient, type JsonValue, type StatusEvent } from '@mesh/client'

/** What one flag holds. */
interface Flag {
  enabled: boolean
  /** Display name of whoever changed it last. */
  by: string
}

declare global {
  interface Window {
    /** The page's client, for the console and for browser tests. */
    board?: { client: MeshClient }
  }
}

const FLAG_PREFIX = 'flag:'
const COLORS = ['#0969da', '#8250df', '#bf3989', '#1a7f37', '#bc4c00', '#0a3069']

const params = new URLSearchParams(location.search)
const fallback =
  document.querySelector<HTMLMetaElement>('meta[name="mesh-nodes"]')?.content ?? 'ws://127.0.0.1:4000/mesh'
const urls = (params.getAll('node').length > 0 ? params.getAll('node') : [fallback])
  .flatMap((value) => value.split(','))
  .map((value) => value.trim())
  .filter(Boolean)
let myName = params.get('name') ?? `guest-${Math.random().toString(36).slice(2, 6)}`
const color = COLORS[Math.floor(Math.random() * COLORS.length)] ?? '#0969da'

/** The page's element for `selector`, checked to be of the element class `type`. */
const $ = <T extends HTMLElement>(selector: string, type: new () => T): T => {
  const element = document.querySelector(selector)
  if (!(element instanceof type)) throw new Error(`the page lacks ${selector} (a ${type.name})`)
  return element
}

const statusBadge = $('#status', HTMLSpanElement)
const readOnlyBadge = $('#read-only', HTMLSpanElement)
const flagList = $('#flags', HTMLUListElement)
const empty = $('#empty', HTMLParagraphElement)
const addForm = $('#add', HTMLFormElement)
const flagName = $('#flag-name', HTMLInputElement)
const message = $('#message', HTMLParagraphElement)
const presenceList = $('#presence', HTMLUListElement)
const nameInput = $('#my-name', HTMLInputElement)
const footer = $('#node', HTMLElement)

const client = new MeshClient({
  urls,
  room: params.get('room') ?? 'default',
  name: myName,
  meta: { color },
  // ?persist keeps the tab's replica in IndexedDB across reloads.
  persist: params.has('persist'),
})
window.board = { client }

const isFlag = (value: JsonValue | undefined): value is JsonValue & Flag =>
  typeof value === 'object' && value !== null && !Array.isArray(value) && typeof value.enabled === 'boolean'

const show = (text: string): void => {
  message.textContent = text
}

const write = (promise: Promise<unknown>): void => {
  promise.then(
    () => show(''),
    (error: unknown) => show(error instanceof Error ? error.message : String(error)),
  )
}

const renderFlags = (): void => {
  const items = client
    .entries()
    .filter(([key]) => key.startsWith(FLAG_PREFIX))
    .sort(([a], [b]) => a.localeCompare(b))
  flagList.replaceChildren(
    ...items.map(([key, value]) => {
      const flag: Flag = isFlag(value) ? value : { enabled: value === true, by: '' }
      const item = document.createElement('li')
      item.dataset.key = key
      const toggle = document.createElement('input')
      toggle.type = 'checkbox'
      toggle.checked = flag.enabled
      toggle.disabled = client.readOnly
      toggle.setAttribute('aria-label', `toggle ${key.slice(FLAG_PREFIX.length)}`)
      toggle.addEventListener('change', () => write(client.put(key, { enabled: toggle.checked, by: myName })))
      const name = document.createElement('span')
      name.className = 'name'
      name.textContent = key.slice(FLAG_PREFIX.length)
      const by = document.createElement('span')
      by.className = 'muted by'
      by.textContent = flag.by ? `by ${flag.by}` : ''
      const remove = document.createElement('button')
      remove.className = 'remove'
      remove.type = 'button'
      remove.textContent = '✕'
      remove.title = 'remove flag'
      remove.disabled = client.readOnly
      remove.addEventListener('click', () => write(client.pop(key)))
      item.append(toggle, name, by, remove)
      return item
    }),
  )
  empty.hidden = items.length > 0
}

const renderPresence = (): void => {
  presenceList.replaceChildren(
    ...client.presence.list().map((peer) => {
      const item = document.createElement('li')
      item.dataset.id = peer.id
      const dot = document.createElement('span')
      dot.className = 'dot'
      dot.style.background = typeof peer.state.color === 'string' ? peer.state.color : '#6e7781'
      const name = document.createElement('span')
      name.className = 'name'
      name.textContent = peer.self ? `${peer.name} (you)` : peer.name
      item.append(dot, name)
      return item
    }),
  )
}

const renderStatus = (event?: StatusEvent): void => {
  const status = client.status
  const retry = event?.retryInMs !== undefined ? ` · retry in ${(event.retryInMs / 1000).toFixed(1)} s` : ''
  statusBadge.textContent = `${status}${status === 'offline' ? retry : ''}`
  statusBadge.className = `badge status-${status}`
  statusBadge.dataset.status = status
  readOnlyBadge.hidden = !client.readOnly
  for (const control of [flagName, ...addForm.querySelectorAll('button')]) control.disabled = client.readOnly
  footer.textContent = client.url ? `node ${client.url} · room ${client.room}` : `nodes ${client.urls.join(', ')}`
}

addForm.addEventListener('submit', (event) => {
  event.preventDefault()
  const name = flagName.value.trim()
  if (!name) return
  write(client.put(`${FLAG_PREFIX}${name}`, { enabled: false, by: myName }))
  flagName.value = ''
})

nameInput.value = myName
nameInput.addEventListener('change', () => {
  myName = nameInput.value.trim() || myName
  client.presence.set({ name: myName })
})

client.on('change', renderFlags)
client.on('presence', renderPresence)
client.on('status', renderStatus)
client.on('readonly', () => {
  renderStatus()
  renderFlags()
  show('This node serves you read-only: you can look but not change.')
})
client.on('error', (error) => show(error.message))
// Closing the tab would drop presence after the socket closes anyway; this makes it instant.
addEventListener('pagehide', () => client.close())

renderFlags()
renderPresence()
renderStatus()
