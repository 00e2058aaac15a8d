import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'

/** A fresh random challenge for one connection. */
export const newNonce = (): string => randomBytes(18).toString('base64url')

/** HMAC-SHA256 of the parts, joined unambiguously (each is length-prefixed). */
export const sign = (secret: string, parts: readonly string[]): string => {
  const hmac = createHmac('sha256', secret)
  for (const part of parts) hmac.update(`${part.length}:${part}`)
  return hmac.digest('base64url')
}

const same = (a: string, b: string): boolean => {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

/** One proof per secret, so a peer that knows any of them can verify (rotation without downtime). */
export const signAll = (secrets: readonly string[], parts: readonly string[]): string =>
  secrets.map((secret) => sign(secret, parts)).join('.')

/**
 * The first of `secrets` that made one of the proofs in `proofs` (as {@link signAll} joins
 * them), or undefined.
 */
export const matchingSecret = (
  secrets: readonly string[],
  proofs: string,
  parts: readonly string[],
): string | undefined => {
  const given = proofs.split('.').slice(0, 16)
  return secrets.find((secret) => {
    const expected = sign(secret, parts)
    return given.some((proof) => same(proof, expected))
  })
}
