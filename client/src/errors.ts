import { MeshError, type MeshErrorCode } from '@mesh/core/browser'

/**
 * What the client reports: `bad_option` (constructor options), `bad_request` (a key or value
 * the store cannot hold), `read_only` (a node refused this client's writes), `closed`,
 * `bad_message` (a node sent something undecodable), `rejected` (a node closed the connection
 * for good with 4400–4499; no more reconnects), `listener` (an event listener or subscriber threw), `forbidden` (a node refused a
 * subscribe or publish; `reason` says which).
 */
export type MeshClientErrorCode = Extract<
  MeshErrorCode,
  'bad_option' | 'bad_request' | 'read_only' | 'closed' | 'bad_message' | 'rejected' | 'listener' | 'forbidden'
>

/**
 * The error the client throws and emits for its own failures; key and value validation is
 * shared with the nodes and throws their `MeshError`, of which this is a subclass. Switch on
 * `code`, not on the class or the message.
 */
export class MeshClientError extends MeshError {
  declare readonly code: MeshClientErrorCode
  /** For `rejected`: the WebSocket close code the node refused with (e.g. 4401, 4403). */
  readonly closeCode: number | undefined
  /** For `rejected`: the reason the node gave, if any. */
  readonly reason: string | undefined

  constructor(
    code: MeshClientErrorCode,
    message: string,
    options?: { cause?: unknown; closeCode?: number; reason?: string },
  ) {
    super(code, message, options)
    this.name = 'MeshClientError'
    this.closeCode = options?.closeCode
    this.reason = options?.reason
  }
}
