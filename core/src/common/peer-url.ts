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
