import { MeshError } from './errors.js'

/**
 * The URL as given when it is one a node can dial (`ws:` or `wss:`), else empty: a peer may
 * announce anything, and nodes dial what members announce.
 */
export const dialableUrl = (url: string): string => {
  if (url === '' || url.length > 2048) return ''
  try {
    const parsed = new URL(url)
    return parsed.protocol === 'ws:' || parsed.protocol === 'wss:' ? url : ''
  } catch {
    return ''
  }
}

/**
 * What is wrong with a peer URL to join, or `undefined` when a node can dial it: a non-URL,
 * a scheme other than `ws:`/`wss:`, or no path (a node answers an upgrade on `/` like any
 * page, so such a dial would fail later with no reason). The message says what to use instead.
 */
export const peerUrlProblem = (raw: string): string | undefined => {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    return `"${raw}" is not a URL; expected ws://host:port/mesh`
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    return `"${raw}" must start with ws:// or wss://, as in ws://host:port/mesh`
  }
  if (url.pathname === '/' || url.pathname === '') {
    return `"${raw}" has no path; a node's peer endpoint is its base path, e.g. ${url.protocol}//${url.host}/mesh`
  }
  return undefined
}

/**
 * Checks a peer URL to join before anything starts, so a bad one fails at start-up with the
 * URL to use instead of in a background dial. Returns it as given; throws a `bad_option`
 * MeshError for a non-URL, a scheme other than `ws:`/`wss:`, or no path: a node answers an
 * upgrade on `/` like any page, so such a dial would fail later with no reason.
 *
 * @example
 * const join = (process.env.MESH_JOIN ?? '').split(',').filter(Boolean).map(checkPeerUrl)
 */
export const checkPeerUrl = (raw: string): string => {
  const problem = peerUrlProblem(raw)
  if (problem !== undefined) throw new MeshError('bad_option', problem)
  return raw
}
