import { decodeBatched, decodePeer, type PeerMessage } from './peer-messages.js'
import { MessageType } from './protocol.js'

/** An `answer` message. */
export type AnswerMessage = Extract<PeerMessage, { type: typeof MessageType.answer }>

/**
 * The answers in a frame a link could not send (its socket was closing: the peer's close frame
 * came in the very tick the answer was written), alone or in a batch; none from a `part` or
 * from anything that does not decode.
 */
export const answersIn = (frame: Uint8Array): AnswerMessage[] => {
  const answers: AnswerMessage[] = []
  try {
    const message = decodePeer(frame)
    if (message.type === MessageType.answer) answers.push(message)
    if (message.type !== MessageType.batch) return answers
    for (let i = 0; i < message.count; i++) {
      const inner = decodeBatched(message.frames)
      if (inner.type === MessageType.answer) answers.push(inner)
    }
  } catch {
    // This node's own frame: it decodes; a frame that does not is not worth a failure here.
  }
  return answers
}
