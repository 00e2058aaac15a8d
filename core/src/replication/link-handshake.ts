import { CloseCode, dialableUrl } from '../common/index.js'
import { matchingSecret, newNonce, sign, signAll } from '../security/index.js'
import { CONFLICT_POLICIES, type ConflictPolicy } from './conflict.js'
import { encodePeer, type Hello } from './peer-messages.js'
import { PROTOCOL_VERSION } from './protocol.js'

/** What the handshake needs of the node: who it is, and the mesh secrets. */
export interface HandshakeHost {
  readonly id: string
  readonly name: string
  readonly url: string
  readonly clientId: number
  readonly policy: ConflictPolicy
  /** Shared secrets of the mesh; the first signs, any verifies. Empty: no authentication. */
  readonly secrets: readonly string[]
}

/** Why a handshake refused the peer: the close code and reason the link closes with. */
export interface Refusal {
  code: number
  reason: string
}

/**
 * One side of a peer link's handshake (the conversation is in the header of protocol.ts):
 * `hello` both ways, then the proofs, dialer first, each over both nonces. A malformed hello
 * throws; a peer this node must not link to is a {@link Refusal}.
 */
export class LinkHandshake {
  #host: HandshakeHost
  #role: 'dialer' | 'acceptor'
  #send: (frame: Uint8Array<ArrayBuffer>) => void
  #nonce = newNonce()

  constructor(options: {
    host: HandshakeHost
    role: 'dialer' | 'acceptor'
    send: (frame: Uint8Array<ArrayBuffer>) => void
  }) {
    this.#host = options.host
    this.#role = options.role
    this.#send = options.send
  }

  /** Sends this side's hello: the dialer's opens the conversation, the acceptor's answers it. */
  sendHello(): void {
    const host = this.#host
    this.#send(
      encodePeer.hello({
        nodeId: host.id,
        name: host.name,
        url: host.url,
        clientId: host.clientId,
        onConflict: host.policy,
        nonce: this.#nonce,
        // Proofs travel in `prove`, once each side's nonce is known (protocol version 2).
        proof: '',
      }),
    )
  }

  /** Checks the peer's hello (normalising its URL in place); throws when it is malformed. */
  checkHello(hello: Hello): Refusal | undefined {
    if (hello.version !== PROTOCOL_VERSION) {
      return {
        code: CloseCode.protocolVersion,
        reason: `protocol version ${hello.version}, expected ${PROTOCOL_VERSION}`,
      }
    }
    if (hello.nodeId.length === 0 || hello.nodeId.length > 128) throw new Error('bad node id')
    if (hello.name.length > 256) throw new Error('name too long')
    hello.url = dialableUrl(hello.url)
    if (!CONFLICT_POLICIES.includes(hello.onConflict as ConflictPolicy)) throw new Error('unknown onConflict policy')
    if (hello.nodeId === this.#host.id) return { code: CloseCode.duplicate, reason: 'link to self' }
    return undefined
  }

  /** Answers an accepted hello: the acceptor with its own hello, the dialer with its proof. */
  answerHello(hello: Hello): void {
    if (this.#role === 'acceptor') {
      // No proof yet: the dialer proves first, so a client without the secret gets no HMAC to guess against.
      this.sendHello()
      return
    }
    const { secrets, id } = this.#host
    this.#send(
      encodePeer.prove(
        secrets.length > 0 ? signAll(secrets, ['dialer', this.#nonce, hello.nonce, id, hello.nodeId]) : '',
      ),
    )
  }

  /**
   * The other side's proof. The acceptor checks the dialer's, then proves itself with the
   * secret that matched; the dialer checks the acceptor's (mutual authentication). Both
   * proofs cover both nonces, so neither can be replayed on another connection. Undefined
   * means the link is authenticated.
   */
  checkProof(remote: Hello, proof: string): Refusal | undefined {
    const { secrets, id } = this.#host
    const acceptor = this.#role === 'acceptor'
    const dialerNonce = acceptor ? remote.nonce : this.#nonce
    const acceptorNonce = acceptor ? this.#nonce : remote.nonce
    const [dialerId, acceptorId] = acceptor ? [remote.nodeId, id] : [id, remote.nodeId]
    const dialerParts = ['dialer', dialerNonce, acceptorNonce, dialerId, acceptorId]
    const acceptorParts = ['acceptor', dialerNonce, acceptorNonce, acceptorId, dialerId]
    if (secrets.length === 0) {
      // Both sides need a secret, and a common one; a node with one never joins a node without.
      if (proof !== '')
        return { code: CloseCode.unauthorized, reason: 'the peer has a mesh secret and this node has none' }
      if (acceptor) this.#send(encodePeer.prove(''))
      return undefined
    }
    const secret = matchingSecret(secrets, proof, acceptor ? dialerParts : acceptorParts)
    if (secret === undefined) {
      return {
        code: CloseCode.unauthorized,
        reason: acceptor ? 'wrong or missing mesh secret' : 'the peer does not know the mesh secret',
      }
    }
    if (acceptor) this.#send(encodePeer.prove(sign(secret, acceptorParts)))
    return undefined
  }
}
