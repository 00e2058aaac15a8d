import { crc32 } from 'node:zlib'

/**
 * Key layout in LevelDB (room names are URI-encoded, so no name prefixes another's keys):
 *   `room/<name>`            the room exists (empty value)
 *   `snap/<name>`            its snapshot (V2 update), framed
 *   `log/<name>/<seq>`       one log record (V1 update), framed; seq is 13 hex digits, so
 *                            keys sort in append order
 *   `synced`                 time of the last fsync forced by the `batch` policy
 * A framed value is a 4-byte big-endian CRC-32 of the payload, then the payload: a torn or
 * corrupt record is detected at load.
 */
export const keys = {
  room: (name: string): string => `room/${encodeURIComponent(name)}`,
  roomPrefix: 'room/',
  nameOf: (roomKey: string): string => decodeURIComponent(roomKey.slice('room/'.length)),
  snapshot: (name: string): string => `snap/${encodeURIComponent(name)}`,
  logPrefix: (name: string): string => `log/${encodeURIComponent(name)}/`,
  log: (name: string, seq: number): string => `log/${encodeURIComponent(name)}/${seq.toString(16).padStart(13, '0')}`,
  seqOf: (logKey: string): number => parseInt(logKey.slice(logKey.lastIndexOf('/') + 1), 16),
  synced: 'synced',
}

/** Frames a payload with its checksum. */
export const frame = (payload: Uint8Array): Uint8Array => {
  const framed = new Uint8Array(payload.length + 4)
  new DataView(framed.buffer).setUint32(0, crc32(payload))
  framed.set(payload, 4)
  return framed
}

/** The payload of a framed value, or undefined if it is torn or corrupt. */
export const unframe = (framed: Uint8Array): Uint8Array | undefined => {
  if (framed.length < 4) return undefined
  const payload = framed.subarray(4)
  const sum = new DataView(framed.buffer, framed.byteOffset, 4).getUint32(0)
  return crc32(payload) === sum ? payload : undefined
}
