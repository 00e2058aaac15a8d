/**
 * Example: a counter per id, routed to the one node that owns the id (docs/routing.md).
 *
 *   PORT=4001 MESH_NAME=a npm run counter -w examples/routing
 *   PORT=4002 MESH_NAME=b MESH_JOIN=ws://127.0.0.1:4001/mesh npm run counter -w examples/routing
 *   PORT=4003 MESH_NAME=c MESH_JOIN=ws://127.0.0.1:4001/mesh npm run counter -w examples/routing
 *
 *   curl -X POST localhost:4002/count/user-42                                   # the app's route
 *   curl -X POST -H 'content-type: application/json' -d '{"add":5}' \
 *     localhost:4003/mesh/api/call/counter/user-42                              # Mesh's REST call
 */
import type { JsonValue } from '@mesh/core'
import { readJson, sendJson, start } from './start.js'

start({ capabilities: ['counter'] }, (node) => {
  node.actor('counter', (id) => {
    // The count lives in the store too, so the next owner starts from it when the shard moves.
    const key = `counter:${id}`
    let count = typeof node.get(key) === 'number' ? (node.get(key) as number) : 0
    return {
      call: async (payload: JsonValue) => {
        const add = (payload as { add?: unknown } | null)?.add
        count += typeof add === 'number' && Number.isFinite(add) ? add : 1
        await node.put(key, count)
        return { id, count, servedBy: node.name }
      },
    }
  })
  return (req, res) => {
    const route = /^\/count\/([^/?]+)$/.exec(req.url ?? '')
    if (req.method === 'POST' && route) {
      void readJson(req)
        .then((body) =>
          node.call({
            capability: 'counter',
            id: decodeURIComponent(route[1] as string),
            payload: (body ?? null) as JsonValue,
          }),
        )
        .then(
          (answer) => sendJson(res, 200, { ...(answer as object), askedAt: node.name }),
          (error: unknown) => {
            const { message, code } = error as Error & { code?: string }
            sendJson(res, 502, { error: message, code })
          },
        )
      return
    }
    if (req.method === 'GET' && req.url === '/') {
      return sendJson(res, 200, { name: node.name, owns: node.status().routing, try: 'POST /count/:id' })
    }
    sendJson(res, 404, { error: 'try POST /count/:id, or POST /mesh/api/call/counter/:id' })
  }
})
