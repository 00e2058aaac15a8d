import type { MeshNode } from '@mesh/core'
import { cors } from 'hono/cors'

/** `ws://h:p/mesh` → `http://h:p`; undefined for anything that is not a URL. */
const httpOrigin = (peerUrl: string): string | undefined => {
  try {
    const url = new URL(peerUrl)
    return `${url.protocol === 'wss:' ? 'https:' : 'http:'}//${url.host}`
  } catch {
    return undefined
  }
}

/**
 * CORS for the REST API in demo mode: the inspector page served by one node calls the control
 * API and `PUT /kv` on the others (other ports, so other origins). Only origins of this mesh's
 * own nodes are allowed; everything else gets no CORS headers and stays blocked by the browser.
 */
export const meshNodesCors = (node: MeshNode) =>
  cors({
    origin: (origin) => {
      const allowed = new Set([node.url, ...node.members().map((m) => m.url)].map(httpOrigin))
      return allowed.has(origin) ? origin : null
    },
    allowMethods: ['GET', 'PUT', 'POST', 'DELETE'],
    allowHeaders: ['content-type', 'authorization'],
    maxAge: 600,
  })
