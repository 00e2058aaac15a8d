/** Copies a frame out of whatever the adapter received into a standalone Uint8Array. */
export const toBytes = (data: Uint8Array | ArrayBuffer): Uint8Array =>
  data instanceof Uint8Array ? data : new Uint8Array(data)
