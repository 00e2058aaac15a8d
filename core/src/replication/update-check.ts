import * as decoding from 'lib0/decoding'
import * as Y from 'yjs'

/**
 * Walks an update (V1 or V2) the way Yjs will read it, without building anything, and throws if it
 * is malformed or declares more work than its size can honestly hold. V2 stores its columns
 * run-length encoded, so forty bytes can declare billions of structs, which would block the
 * event loop and exhaust the heap inside `Y.applyUpdateV2`. Every genuine struct costs the
 * encoder at least a few bits, so the count is capped relative to the byte size.
 * Walking is also cheaper than `Y.decodeUpdateV2`, which allocates every struct.
 */
export const checkUpdate = (update: Uint8Array, format: 'v1' | 'v2'): void => {
  const budget = 4 * update.length + 1024
  let spent = 0
  const spend = (n: number): void => {
    spent += n
    if (spent > budget) throw new Error(`update of ${update.length} bytes declares more than ${budget} structs`)
  }
  const bytes = decoding.createDecoder(update)
  const decoder = format === 'v2' ? new Y.UpdateDecoderV2(bytes) : new Y.UpdateDecoderV1(bytes)
  const rest = decoder.restDecoder
  const clients = decoding.readVarUint(rest)
  spend(clients)
  for (let c = 0; c < clients; c++) {
    const structs = decoding.readVarUint(rest)
    spend(structs)
    decoder.readClient()
    decoding.readVarUint(rest)
    for (let i = 0; i < structs; i++) {
      const info = decoder.readInfo()
      const kind = info & 0b11111
      if (kind === 0) {
        decoder.readLen()
        continue
      }
      if (kind === 10) {
        decoding.readVarUint(rest)
        continue
      }
      const hasOrigin = (info & 0b1000_0000) !== 0
      const hasRightOrigin = (info & 0b0100_0000) !== 0
      if (hasOrigin) decoder.readLeftID()
      if (hasRightOrigin) decoder.readRightID()
      if (!hasOrigin && !hasRightOrigin) {
        if (decoder.readParentInfo()) decoder.readString()
        else decoder.readLeftID()
        if ((info & 0b0010_0000) !== 0) decoder.readString()
      }
      skipContent(decoder, kind, spend)
    }
  }
  const deleteClients = decoding.readVarUint(rest)
  spend(deleteClients)
  for (let c = 0; c < deleteClients; c++) {
    decoder.resetDsCurVal()
    decoding.readVarUint(rest)
    const ranges = decoding.readVarUint(rest)
    spend(ranges)
    for (let i = 0; i < ranges; i++) {
      decoder.readDsClock()
      decoder.readDsLen()
    }
  }
}

const skipContent = (
  decoder: Y.UpdateDecoderV1 | Y.UpdateDecoderV2,
  kind: number,
  spend: (n: number) => void,
): void => {
  switch (kind) {
    case 1: // deleted
      decoder.readLen()
      return
    case 2: {
      // JSON (legacy)
      const len = decoder.readLen()
      spend(len)
      for (let i = 0; i < len; i++) {
        const text = decoder.readString()
        if (text !== 'undefined') JSON.parse(text)
      }
      return
    }
    case 3: // binary
      decoder.readBuf()
      return
    case 4: // string
      decoder.readString()
      return
    case 5: // embed
      decoder.readJSON()
      return
    case 6: // format
      decoder.readKey()
      decoder.readJSON()
      return
    case 7: {
      // shared type: XmlElement (3) and XmlHook (5) carry a name
      const ref = decoder.readTypeRef()
      if (ref > 6) throw new Error(`unknown type ref ${ref}`)
      if (ref === 3 || ref === 5) decoder.readKey()
      return
    }
    case 8: {
      // any
      const len = decoder.readLen()
      spend(len)
      for (let i = 0; i < len; i++) decoder.readAny()
      return
    }
    case 9: // subdocument
      decoder.readString()
      decoder.readAny()
      return
    default:
      throw new Error(`unknown content type ${kind}`)
  }
}
