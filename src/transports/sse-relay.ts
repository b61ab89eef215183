/**
 * Binds a client's POSTs to its event stream, on whichever node the POST lands.
 *
 * A stream's key is `<node>.<connection id>.<secret>`: the node that holds the stream, the
 * stream, and a secret only its `welcome` told. A POST whose key names this node is handed to
 * the stream at once; one that names another node (a balancer without sticky sessions) is
 * relayed through the adapter's control messages to that node, which hands it to its stream and
 * answers whether it could. The POST is answered with that outcome: 202 once the request is in
 * the stream's message path (its own answer, an `ack` or `error` with the request's id, arrives
 * on the stream), 404 when no node holds a stream with that key, 403 when the POST names a
 * visitor (its cookie session or bearer token) and the stream is another visitor's.
 *
 * The POSTer's visitor travels with a relayed POST and is checked where the stream is, against
 * the stream's visitor at that moment: the key alone never lets one visitor act as another.
 */
import { randomBytes } from 'node:crypto'
import type { ControlMessage } from '../adapters/broker.js'
import type { SseConnection } from './sse.js'

/** Control message kinds of the relay. */
const POST = 'sse.post'
const POSTED = 'sse.posted'

/** Node tags and connection ids are base64url; secrets too. */
const KEY_PATTERN = /^([A-Za-z0-9_-]{1,16})\.([A-Za-z0-9_-]{1,32})\.([A-Za-z0-9_-]{1,64})$/

/** What became of a POST: taken by its stream, no stream has the key, or the stream is another visitor's. */
export type RelayOutcome = 'delivered' | 'missing' | 'wrong-visitor'

const OUTCOMES: ReadonlySet<unknown> = new Set<RelayOutcome>(['delivered', 'missing', 'wrong-visitor'])

/** See the module comment. */
export class SseRelay {
  /** The control message kinds the relay sends and handles. */
  static readonly kinds = [POST, POSTED] as const
  /** This node's tag, the first part of its streams' keys. */
  readonly tag = randomBytes(6).toString('base64url')
  readonly #streams = new Map<string, SseConnection>()
  readonly #waiting = new Map<string, (outcome: RelayOutcome) => void>()
  readonly #control: (message: ControlMessage) => Promise<void>
  readonly #timeoutMs: number

  /**
   * @param control - sends a control message to every node (the adapter's `control`)
   * @param timeoutMs - how long a relayed POST waits for the holding node's answer before 404
   */
  constructor (control: (message: ControlMessage) => Promise<void>, timeoutMs = 3000) {
    this.#control = control
    this.#timeoutMs = timeoutMs
  }

  /** Streams open on this node. */
  get size (): number {
    return this.#streams.size
  }

  /** A stream opened on this node. */
  add (connection: SseConnection): void {
    this.#streams.set(connection.id, connection)
  }

  /** A stream of this node ended. */
  remove (connection: SseConnection): void {
    if (this.#streams.get(connection.id) === connection) this.#streams.delete(connection.id)
  }

  /** The key a client presents in its POSTs for `connection`. */
  keyOf (connection: SseConnection): string {
    return `${this.tag}.${connection.id}.${connection.secret}`
  }

  /**
   * Hand a POSTed text to the stream `key` names, on this node or another.
   * @param poster - the visitor id the POST itself names (cookie session or bearer token), or null for none
   * @returns what became of it
   */
  async deliver (key: string, text: string, poster: string | null): Promise<RelayOutcome> {
    const parts = KEY_PATTERN.exec(key)
    if (parts === null) return 'missing'
    const [, tag = '', connection = '', secret = ''] = parts
    if (tag === this.tag) return this.#handOver(connection, secret, text, poster)
    const reply = randomBytes(9).toString('base64url')
    return await new Promise<RelayOutcome>((resolve) => {
      const timer = setTimeout(() => { settle('missing') }, this.#timeoutMs)
      const settle = (outcome: RelayOutcome): void => {
        clearTimeout(timer)
        this.#waiting.delete(reply)
        resolve(outcome)
      }
      this.#waiting.set(reply, settle)
      this.#control({ kind: POST, to: tag, from: this.tag, reply, connection, secret, text, poster }).catch(() => { settle('missing') })
    })
  }

  /** A control message from the adapter: a POST relayed to this node, or the answer to one it relayed. */
  onControl (message: ControlMessage): void {
    if (message.to !== this.tag) return
    if (message.kind === POST) {
      const { connection, secret, text, from, reply, poster } = message
      if (typeof connection !== 'string' || typeof secret !== 'string' || typeof text !== 'string' || typeof from !== 'string') return
      // A relayed POST that does not say who sent it is refused, never taken as anonymous.
      const outcome = poster === null || typeof poster === 'string' ? this.#handOver(connection, secret, text, poster) : 'wrong-visitor'
      this.#control({ kind: POSTED, to: from, reply, outcome }).catch(() => {})
    } else if (message.kind === POSTED && typeof message.reply === 'string') {
      this.#waiting.get(message.reply)?.(OUTCOMES.has(message.outcome) ? message.outcome as RelayOutcome : 'missing')
    }
  }

  /** Relayed POSTs waiting for their answer (for leak checks). */
  get waiting (): number {
    return this.#waiting.size
  }

  #handOver (id: string, secret: string, text: string, poster: string | null): RelayOutcome {
    const stream = this.#streams.get(id)
    if (stream === undefined || !stream.isOpen || !stream.matches(secret)) return 'missing'
    // Checked before the text enters the message path: a refused POST publishes and changes nothing.
    const owner = stream.visitor
    if (poster !== null && owner !== null && owner.id !== poster) return 'wrong-visitor'
    stream.clientSent(text)
    return 'delivered'
  }
}
