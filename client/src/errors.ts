/** Every failure the client reports on purpose carries one of these codes. */
export type MeshClientErrorCode =
  /** A constructor option is missing or wrong. */
  | 'bad_option'
  /** A key or value the store cannot hold. */
  | 'bad_request'
  /** A node refused this client's writes (read-only light peer). */
  | 'read_only'
  /** The client was closed. */
  | 'closed'
  /** A node sent something the client could not decode. */
  | 'bad_message'
  /** A node closed the connection for good (close code 4400–4499); the client stopped reconnecting. */
  | 'rejected'
  /** An event listener threw. */
  | 'listener'

/** The one error type the client throws and emits; switch on `code`, not on the message. */
export class MeshClientError extends Error {
  readonly code: MeshClientErrorCode

  constructor(code: MeshClientErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'MeshClientError'
    this.code = code
  }
}
