/**
 * Short ASCII strings of the frames calls send, written and read without the objects lib0's
 * string helpers make on the way (`TextEncoder.encodeInto`'s result, a view per string read):
 * at tens of thousands of calls a second those were a good part of what a call allocated.
 */
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'

/** True when every character of `text` is ASCII (one UTF-8 byte each). */
export const isAscii = (text: string): boolean => {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return false
  return true
}

/**
 * `encoding.writeVarString`, without the object `TextEncoder.encodeInto` returns for each
 * string when the string is short ASCII (ids, capability names, small JSON): the same bytes.
 */
export const writeString = (e: encoding.Encoder, text: string): void => {
  const length = text.length
  if (length > 127 || !isAscii(text)) return encoding.writeVarString(e, text)
  encoding.write(e, length)
  for (let i = 0; i < length; i++) encoding.write(e, text.charCodeAt(i))
}

/** The last short ASCII string read for a field that repeats from call to call. */
export interface Repeated {
  text: string
}
/** The capability of the last call read. */
export const lastCapability: Repeated = { text: '' }
/** The target node of the last call read. */
export const lastTarget: Repeated = { text: '' }

/**
 * `decoding.readVarString` for a field that is nearly always the string it was last time (a
 * call's capability and target node): bytes equal to that string give it back, with no view
 * and no new string. Only short ASCII strings are kept, so equal bytes mean an equal string.
 */
export const readRepeated = (d: decoding.Decoder, last: Repeated): string => {
  const start = d.pos
  const length = decoding.readVarUint(d)
  const { text } = last
  const arr = d.arr
  const at = d.pos
  if (length === text.length && length <= arr.length - at) {
    let i = 0
    while (i < length && arr[at + i] === text.charCodeAt(i)) i++
    if (i === length) {
      d.pos = at + length
      return text
    }
  }
  d.pos = start
  const read = decoding.readVarString(d)
  if (read.length <= 64 && isAscii(read)) last.text = read
  return read
}
