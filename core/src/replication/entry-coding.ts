import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import * as Y from 'yjs'

// lib0's `writeAny` / `readAny`, byte for byte and value for value, with a fast path for what
// nearly every element of a store is: `{ key, val }` with an ASCII key. lib0 lists an object's
// keys with `Object.keys`, encodes each name with a `TextEncoder` and decodes each with a
// `TextDecoder` over a fresh `subarray`, and builds the object field by field; a cold join of a
// million entries spent about a third of its decoding, and the holder most of its encoding,
// there. Anything else goes to lib0 unchanged.

/** lib0's tag of an object, and of a string (`writeAny`). */
const OBJECT = 118
const STRING = 119

/** Longest string read or written here by hand; longer ones go to lib0. */
const MAX_FAST_STRING = 64

/** The encoded field names `key` and `val`: length, then the ASCII bytes. */
const KEY_NAME = [3, 0x6b, 0x65, 0x79] as const
const VAL_NAME = [3, 0x76, 0x61, 0x6c] as const

/** Per length, an array of that many char codes, reused: `String.fromCharCode.apply` on it builds a flat string. */
const CODES: number[][] = Array.from({ length: MAX_FAST_STRING + 1 }, (_, n) => new Array<number>(n).fill(0))

/**
 * `value`'s key and val when it is a plain object with exactly the own enumerable keys `key` (a
 * string) and `val`, in that order; each read once, as lib0 reads them (a getter may answer
 * differently each time).
 */
const plainEntry = (value: unknown): { key: string; val: unknown } | undefined => {
  if (typeof value !== 'object' || value === null || Object.getPrototypeOf(value) !== Object.prototype) return undefined
  const keys = Object.keys(value)
  if (keys.length !== 2 || keys[0] !== 'key' || keys[1] !== 'val') return undefined
  const { key, val } = value as { key: unknown; val: unknown }
  return typeof key === 'string' ? { key, val } : undefined
}

/** Writes `text` as lib0's `writeVarString` would, when it is short ASCII and fits the current buffer; false otherwise. */
const writeAsciiString = (encoder: encoding.Encoder, text: string): boolean => {
  const len = text.length
  if (len > MAX_FAST_STRING || encoder.cbuf.length - encoder.cpos < len + 1) return false
  const buf = encoder.cbuf
  const start = encoder.cpos
  buf[start] = len
  for (let i = 0; i < len; i++) {
    const code = text.charCodeAt(i)
    if (code >= 0x80) return false
    buf[start + 1 + i] = code
  }
  encoder.cpos = start + 1 + len
  return true
}

/** Writes a string as lib0's `writeAny` does (tag, then `writeVarString`). */
const writeStringAny = (encoder: encoding.Encoder, text: string): void => {
  encoding.write(encoder, STRING)
  if (!writeAsciiString(encoder, text)) encoding.writeVarString(encoder, text)
}

const writeBytes = (encoder: encoding.Encoder, bytes: readonly number[]): void => {
  for (const byte of bytes) encoding.write(encoder, byte)
}

/** lib0's `encoding.writeAny`, byte for byte. */
export const writeEntryOrAny = (encoder: encoding.Encoder, value: unknown): void => {
  const entry = plainEntry(value)
  if (entry === undefined) {
    // What Yjs hands its encoder as `any` content is what lib0 encodes.
    encoding.writeAny(encoder, value as encoding.AnyEncodable)
    return
  }
  encoding.write(encoder, OBJECT)
  encoding.write(encoder, 2)
  writeBytes(encoder, KEY_NAME)
  writeStringAny(encoder, entry.key)
  writeBytes(encoder, VAL_NAME)
  if (typeof entry.val === 'string') writeStringAny(encoder, entry.val)
  else encoding.writeAny(encoder, entry.val as encoding.AnyEncodable)
}

/** Reads a short ASCII `writeVarString` at the decoder's position; undefined (position unchanged) otherwise. */
const readAsciiString = (decoder: decoding.Decoder): string | undefined => {
  const arr = decoder.arr
  const at = decoder.pos
  if (at >= arr.length) return undefined
  const len = arr[at] as number
  // A length of 128 or more takes two bytes: never here.
  if (len > MAX_FAST_STRING || at + 1 + len > arr.length) return undefined
  const codes = CODES[len] as number[]
  for (let i = 0; i < len; i++) {
    const byte = arr[at + 1 + i] as number
    if (byte >= 0x80) return undefined
    codes[i] = byte
  }
  decoder.pos = at + 1 + len
  return String.fromCharCode.apply(null, codes)
}

/** True when the bytes at `at` are `bytes`. */
const holds = (arr: Uint8Array, at: number, bytes: readonly number[]): boolean => {
  for (let i = 0; i < bytes.length; i++) if (arr[at + i] !== bytes[i]) return false
  return true
}

/** Reads one value as lib0's `readAny` does (tag, then the value). */
const readValue = (decoder: decoding.Decoder): unknown => {
  if (decoder.arr[decoder.pos] === STRING) {
    decoder.pos++
    const text = readAsciiString(decoder)
    if (text !== undefined) return text
    decoder.pos--
  }
  return decoding.readAny(decoder)
}

/** lib0's `decoding.readAny`, value for value: an equal value, and a `{ key, val }` object with its fields in that order. */
export const readEntryOrAny = (decoder: decoding.Decoder): unknown => {
  const arr = decoder.arr
  const at = decoder.pos
  if (arr[at] === OBJECT && arr[at + 1] === 2 && holds(arr, at + 2, KEY_NAME) && arr[at + 6] === STRING) {
    decoder.pos = at + 7
    const key = readAsciiString(decoder)
    if (key !== undefined && holds(arr, decoder.pos, VAL_NAME)) {
      decoder.pos += VAL_NAME.length
      return { key, val: readValue(decoder) }
    }
    decoder.pos = at
  }
  return decoding.readAny(decoder)
}

/** Yjs's V2 update decoder, reading `any` content with {@link readEntryOrAny}. */
export class EntryDecoderV2 extends Y.UpdateDecoderV2 {
  override readAny(): unknown {
    return readEntryOrAny(this.restDecoder)
  }
}

/** Yjs's V1 update decoder, reading `any` content with {@link readEntryOrAny}. */
export class EntryDecoderV1 extends Y.UpdateDecoderV1 {
  override readAny(): unknown {
    return readEntryOrAny(this.restDecoder)
  }
}
