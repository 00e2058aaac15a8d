import type { JsonValue } from './types.js'

/** The answer of the control API: the node's cut peers after the call. */
export interface CutsAnswer {
  cuts: string[]
}

/** A failed control or REST call, with the node's own error message. */
export class ControlError extends Error {
  override readonly name = 'ControlError'
  readonly status: number

  constructor(status: number, message: string) {
    super(message)
    this.status = status
  }
}

const call = async <T>(url: string, init: RequestInit): Promise<T> => {
  let res: Response
  try {
    res = await fetch(url, init)
  } catch (error) {
    throw new ControlError(0, `${url}: ${error instanceof Error ? error.message : String(error)}`)
  }
  const text = await res.text()
  let body: unknown = text
  try {
    body = JSON.parse(text)
  } catch {
    // Not JSON: keep the text for the error message.
  }
  if (!res.ok) {
    const message = (body as { error?: unknown } | null)?.error
    throw new ControlError(res.status, typeof message === 'string' ? message : `${res.status} ${text}`)
  }
  return body as T
}

/**
 * The demo controls' calls, against any node's REST API (`httpBase` is `http://HOST:PORT/mesh`).
 * The token comes from the page URL's hash, which browsers never send to a server.
 */
export class ControlClient {
  #token: string

  constructor(token: string) {
    this.#token = token
  }

  #headers(): Record<string, string> {
    return { authorization: `Bearer ${this.#token}`, 'content-type': 'application/json' }
  }

  /** The node's current cut peers. */
  cuts(httpBase: string): Promise<CutsAnswer> {
    return call(`${httpBase}/api/control`, { headers: this.#headers() })
  }

  /** Cuts (or heals) one end of a link: `httpBase`'s node refuses `peer` until healed. */
  cutOne(httpBase: string, peer: string, action: 'cut' | 'heal'): Promise<CutsAnswer> {
    return call(`${httpBase}/api/control/${action}`, {
      method: 'POST',
      headers: this.#headers(),
      body: JSON.stringify({ peer }),
    })
  }

  /** Writes a key on one node (`PUT /mesh/api/kv/:key`); it replicates from there. */
  write(httpBase: string, key: string, value: JsonValue): Promise<unknown> {
    return call(`${httpBase}/api/kv/${encodeURIComponent(key)}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(value),
    })
  }
}

/** Reads `token` from a location hash such as `#token=abc&x=1`. */
export const tokenFromHash = (hash: string): string | undefined => {
  const token = new URLSearchParams(hash.replace(/^#/, '')).get('token')
  return token === null || token === '' ? undefined : token
}
