/**
 * A whole state sent as segments (`encodePeer.diffSegments`) is cut into the same `part`
 * messages as the joined frame, byte for byte, so a peer cannot tell the two apart; only the
 * copies on the sending side differ. Seeded: `MESH_SEED` replays a run.
 */
import * as prng from 'lib0/prng'
import { describe, expect, it } from 'vitest'
import {
  decodePeer,
  encodePeer,
  FrameAssembler,
  joinSegments,
  MessageType,
  pieceBytes,
  splitFrame,
} from '../src/replication/index.js'

const seed = Number(process.env.MESH_SEED ?? Math.floor(Math.random() * 2 ** 31))

const bytes = (gen: prng.PRNG, n: number): Uint8Array => {
  const out = new Uint8Array(n)
  for (let i = 0; i < n; i++) out[i] = prng.uint32(gen, 0, 255)
  return out
}

describe(`frames sent as segments (MESH_SEED=${seed})`, () => {
  it('cut into the same pieces as the joined frame, which reassemble into the diff', () => {
    const gen = prng.create(seed)
    for (let run = 0; run < 25; run++) {
      const update = bytes(gen, prng.uint32(gen, 0, 2000))
      const changed = 'k'.repeat(prng.uint32(gen, 0, 300))
      const maxBytes = prng.uint32(gen, 64, 1000)
      const segments = encodePeer.diffSegments('room', update, changed)
      const joined = encodePeer.diff('room', update, changed)
      expect(joinSegments(segments)).toEqual(joined)
      const pieces = splitFrame(segments, maxBytes)
      expect(pieces).toEqual(splitFrame(joined, maxBytes))
      for (const piece of pieces) expect(piece.length).toBeLessThanOrEqual(maxBytes)
      if (pieces.length === 1) continue
      const parts = new FrameAssembler({ maxBytes: joined.length, minPiece: pieceBytes(maxBytes) })
      let whole: Uint8Array | undefined
      for (const piece of pieces) {
        const message = decodePeer(piece)
        if (message.type !== MessageType.part) throw new Error('expected a part')
        expect(whole).toBeUndefined()
        whole = parts.add(message.total, message.piece)
      }
      const diff = decodePeer(whole as Uint8Array)
      expect(diff).toEqual({ type: MessageType.diff, room: 'room', update, changed })
    }
  })

  it('a repair as segments is the repair frame', () => {
    const update = bytes(prng.create(seed), 2500)
    expect(joinSegments(encodePeer.repairSegments('r', update))).toEqual(encodePeer.repair('r', update))
    expect(splitFrame(encodePeer.repairSegments('r', update), 1000)).toEqual(
      splitFrame(encodePeer.repair('r', update), 1000),
    )
  })
})
