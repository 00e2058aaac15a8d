import * as decoding from 'lib0/decoding'
import * as Y from 'yjs'
import { isWellFormed } from '../common/index.js'
import { MAX_KEY_LENGTH } from '../store/index.js'

// The content half of walking an update (update-check.ts walks the structs): skips each
// struct's content as Yjs would read it, judging store entries without decoding them.

/**
 * What skipAny learns of a top-level value that should be a store entry `{ key, val, owner?,
 * exp? }`, with the semantics of lib0's `readAny` (a repeated field: the last one counts).
 */
interface EntryJudge {
  shaped: boolean
  key: boolean
  val: boolean
  /** owner and exp: absent, undefined, or of their type. */
  rest: boolean
}

/** What is known of an entry before any of it is read. */
const FRESH_JUDGE: Readonly<EntryJudge> = { shaped: true, key: false, val: false, rest: true }

/** Resets `entry` to {@link FRESH_JUDGE} field by field: `Object.assign` per entry was a third of the walk of a million entries. */
const freshJudge = (entry: EntryJudge): void => {
  entry.shaped = true
  entry.key = false
  entry.val = false
  entry.rest = true
}

/** True when the `len` bytes of `arr` from `start` are all ASCII: UTF-8 that decodes to itself, one code unit a byte. */
const isAscii = (arr: Uint8Array, start: number, len: number): boolean => {
  for (let i = start; i < start + len; i++) if ((arr[i] as number) >= 0x80) return false
  return true
}

/**
 * Skips a lib0 string (`readVarString`): returns its length when it is all ASCII, else the
 * string decoded. An ASCII string cannot fail to decode, is well-formed, and is what nearly
 * every key and field name is, so a cold join of a million entries decodes (and allocates)
 * none of them. Anything else is decoded as Yjs will decode it: what Yjs refuses fails here too.
 */
const skipString = (d: decoding.Decoder): number | string => {
  const at = d.pos
  const len = decoding.readVarUint(d)
  if (d.pos + len <= d.arr.length && isAscii(d.arr, d.pos, len)) {
    d.pos += len
    return len
  }
  d.pos = at
  return decoding.readVarString(d)
}

/** The fields of an entry that judging it looks at. */
const FIELDS = ['key', 'val', 'owner', 'exp', '__proto__'] as const

/** Reads the name of a field of an entry: one of {@link FIELDS}, or '' for any other name. */
const readField = (d: decoding.Decoder): string => {
  const len = skipString(d)
  if (typeof len === 'string') return ''
  for (const name of FIELDS) {
    if (name.length !== len) continue
    let i = 0
    while (i < len && d.arr[d.pos - len + i] === name.charCodeAt(i)) i++
    if (i === len) return name
  }
  return ''
}

/** Skips one value of a top-level field of a judged entry, judging it; returns how deep it nests. */
const judgeField = (entry: EntryJudge, field: string, tag: number, d: decoding.Decoder): number => {
  // Decoded, a `__proto__` field becomes the entry's prototype (see isKvEntry).
  if (field === '__proto__') entry.shaped = false
  let value: unknown
  if (tag === 119) {
    const skipped = skipString(d)
    if (typeof skipped === 'string') value = skipped
    else if (field === 'key') {
      // ASCII: well-formed, with as many code units as bytes.
      entry.key = skipped > 0 && skipped <= MAX_KEY_LENGTH
      return 0
    } else value = ''
  } else if (tag === 123) value = decoding.readFloat64(d)
  else if (tag === 124) value = decoding.readFloat32(d)
  else if (tag === 125) value = decoding.readVarInt(d)
  else {
    // Anything else: skip it as a value of its own (nested values are never fields).
    entry.shaped &&= field !== 'key' && field !== 'owner' && field !== 'exp'
    if (field === 'val') entry.val = tag !== 127
    d.pos--
    return skipAny(d)
  }
  if (field === 'key')
    entry.key = typeof value === 'string' && value.length > 0 && value.length <= MAX_KEY_LENGTH && isWellFormed(value)
  else if (field === 'val') entry.val = true
  else if (field === 'owner') entry.rest &&= typeof value === 'string'
  else if (field === 'exp') entry.rest &&= typeof value === 'number' && Number.isFinite(value)
  return 0
}

/**
 * Skips one lib0 `any` value (the encoding of `decoding.readAny`) with an explicit stack instead
 * of recursion, and returns how many arrays and objects it nests (0 for a primitive, 1 for
 * `[1]` or `{}`). Throws on an unknown tag or a value cut short.
 */
export const skipAny = (d: decoding.Decoder): number => {
  // Per open array or object: the values it still holds, and whether each comes after a key.
  const open: Array<{ left: number; keyed: boolean }> = []
  let deepest = 0
  for (;;) {
    const tag = decoding.readUint8(d)
    switch (tag) {
      case 127: // undefined
      case 126: // null
      case 121: // false
      case 120: // true
        break
      case 125:
        decoding.readVarInt(d)
        break
      case 124:
        decoding.readFloat32(d)
        break
      case 123:
        decoding.readFloat64(d)
        break
      case 122:
        decoding.readBigInt64(d)
        break
      case 119:
        skipString(d)
        break
      case 116:
        decoding.readVarUint8Array(d)
        break
      case 118: // object: length, then key and value pairs
      case 117: {
        // array: length, then values
        const len = decoding.readVarUint(d)
        deepest = Math.max(deepest, open.length + 1)
        if (len > 0) {
          open.push({ left: len, keyed: tag === 118 })
          if (tag === 118) skipString(d)
          continue
        }
        break
      }
      default:
        throw new Error(`unknown value tag ${tag}`)
    }
    // One value done: close every array or object it completed.
    for (;;) {
      const top = open[open.length - 1]
      if (!top) return deepest
      if (--top.left > 0) {
        if (top.keyed) skipString(d)
        break
      }
      open.pop()
    }
  }
}

/**
 * Skips one element of `any` content, judging on the way whether it is a store entry `{ key,
 * val, owner?, exp? }` (see {@link EntryJudge}); returns how deep it nests (see {@link skipAny}).
 */
const skipEntry = (d: decoding.Decoder, entry: EntryJudge): number => {
  freshJudge(entry)
  if (d.arr[d.pos] !== 118) {
    entry.shaped = false
    return skipAny(d)
  }
  d.pos++
  const len = decoding.readVarUint(d)
  let deepest = 1
  for (let i = 0; i < len; i++) {
    const field = readField(d)
    deepest = Math.max(deepest, 1 + judgeField(entry, field, decoding.readUint8(d), d))
  }
  entry.shaped &&= entry.key && entry.val && entry.rest
  return deepest
}

/** Skips one struct's content; returns how deep its values nest (see {@link skipAny}). */
export const skipContent = (
  decoder: Y.UpdateDecoderV1 | Y.UpdateDecoderV2,
  kind: number,
  spend: (n: number) => void,
  shape: { plain: boolean; len: number },
): number => {
  if (kind !== 1 && kind !== 8) shape.plain = false
  // Clocks the struct takes: one unless its content says otherwise.
  shape.len = 1
  switch (kind) {
    case 1: // deleted
      shape.len = decoder.readLen()
      return 0
    case 2: {
      // JSON (legacy)
      const len = decoder.readLen()
      shape.len = len
      spend(len)
      for (let i = 0; i < len; i++) {
        const text = decoder.readString()
        if (text !== 'undefined') JSON.parse(text)
      }
      return 0
    }
    case 3: // binary
      decoder.readBuf()
      return 0
    case 4: // string
      shape.len = decoder.readString().length
      return 0
    case 5: // embed
      decoder.readJSON()
      return 0
    case 6: // format
      decoder.readKey()
      decoder.readJSON()
      return 0
    case 7: {
      // shared type: XmlElement (3) and XmlHook (5) carry a name
      const ref = decoder.readTypeRef()
      if (ref > 6) throw new Error(`unknown type ref ${ref}`)
      if (ref === 3 || ref === 5) decoder.readKey()
      return 0
    }
    case 8: {
      // any
      const len = decoder.readLen()
      shape.len = len
      spend(len)
      let depth = 0
      const judge = { ...FRESH_JUDGE }
      for (let i = 0; i < len; i++) {
        if (!shape.plain) depth = Math.max(depth, skipAny(decoder.restDecoder))
        else {
          depth = Math.max(depth, skipEntry(decoder.restDecoder, judge))
          shape.plain = judge.shaped
        }
      }
      return depth
    }
    case 9: // subdocument
      decoder.readString()
      return skipAny(decoder.restDecoder)
    default:
      throw new Error(`unknown content type ${kind}`)
  }
}
