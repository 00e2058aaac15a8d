/**
 * Example: chat rooms across three nodes (docs/routing.md). Each room has one actor, on the
 * node that owns the room's id: it numbers the messages, keeps the last 50 in the store and
 * publishes each on the topic `chat:<room>`, which every node streams to its browsers as
 * server-sent events.
 *
 *   PORT=4001 MESH_NAME=a npm run chat -w examples/routing
 *   PORT=4002 MESH_NAME=b MESH_JOIN=ws://127.0.0.1:4001/mesh npm run chat -w examples/routing
 *   PORT=4003 MESH_NAME=c MESH_JOIN=ws://127.0.0.1:4001/mesh npm run chat -w examples/routing
 *
 *   curl -N localhost:4003/rooms/lobby/events                                  # listen on c
 *   curl -X POST -d '{"from":"ada","text":"hi"}' localhost:4001/rooms/lobby/messages   # post on a
 *   curl localhost:4002/rooms/lobby/messages                                   # history on b
 */
import type { JsonValue } from '@mesh/core'
import { readJson, sendJson, start } from './start.js'

/** Messages a room keeps in its history. */
const HISTORY = 50

/** One chat message. A type, not an interface, so that it is a `JsonValue`. */
type Line = { seq: number; from: string; text: string; at: number }

start({ capabilities: ['chat'] }, (node) => {
  node.actor('chat', (room) => {
    const key = `chat:${room}`
    const history = (): Line[] => (Array.isArray(node.get(key)) ? (node.get(key) as Line[]) : [])
    return {
      call: async (payload: JsonValue) => {
        const { from, text } = (payload ?? {}) as { from?: unknown; text?: unknown }
        if (typeof from !== 'string' || typeof text !== 'string' || text.length > 2000) {
          throw new Error('send { "from": "name", "text": "up to 2000 characters" }')
        }
        const lines = history()
        const line: Line = { seq: (lines.at(-1)?.seq ?? 0) + 1, from: from.slice(0, 40), text, at: Date.now() }
        await node.put(key, [...lines.slice(-(HISTORY - 1)), line])
        node.publish(key, line)
        return line
      },
    }
  })
  return (req, res) => {
    const route = /^\/rooms\/([\w-]{1,64})\/(messages|events)$/.exec(req.url ?? '')
    if (!route) return sendJson(res, 404, { error: 'try /rooms/:room/messages or /rooms/:room/events' })
    const [, room = '', what] = route
    if (what === 'events' && req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
      res.write(': subscribed\n\n')
      const off = node.subscribe(`chat:${room}`, (line) => res.write(`data: ${JSON.stringify(line)}\n\n`))
      req.on('close', off)
      return
    }
    if (req.method === 'GET') return sendJson(res, 200, node.get(`chat:${room}`) ?? [])
    if (req.method !== 'POST') return sendJson(res, 405, { error: 'GET or POST' })
    void readJson(req)
      .then((body) => node.call({ capability: 'chat', id: room, payload: (body ?? null) as JsonValue }))
      .then(
        (line) => sendJson(res, 200, line),
        (error: unknown) => {
          const { message, code } = error as Error & { code?: string }
          sendJson(res, code === 'actor_failed' ? 400 : 502, { error: message, code })
        },
      )
  }
})
