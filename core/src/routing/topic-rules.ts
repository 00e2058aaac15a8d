import { isWellFormed } from '../common/index.js'

/**
 * What a pub/sub topic may be (docs/routing.md). Browser-safe: `@mesh/client` checks topics
 * with the same rules before it sends them.
 */

/** The longest topic name, in UTF-16 code units. */
export const MAX_TOPIC_LENGTH = 256

// Control characters would end up in logs and metrics labels verbatim.
const CONTROL = /[\u0000-\u001f\u007f]/

/** Why `topic` cannot be a topic, or undefined when it can. */
export const topicProblem = (topic: unknown): string | undefined => {
  if (typeof topic !== 'string' || topic.length === 0 || topic.length > MAX_TOPIC_LENGTH) {
    return `a topic must be a string of 1 to ${MAX_TOPIC_LENGTH} characters`
  }
  if (CONTROL.test(topic)) return 'a topic may not contain control characters'
  if (!isWellFormed(topic)) return 'a topic may not contain a lone UTF-16 surrogate'
  return undefined
}
