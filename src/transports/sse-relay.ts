/**
 * Binds a client's POSTs to its event stream, on whichever node the POST lands.
 *
 * A stream's key is `<node>.<connection id>.<secret>`: the node that holds the stream, the
 * stream, and a secret only its `welcome` told. A POST whose key names this node is handed to
 * the stream at once; one that names another node (a balancer without sticky sessions) is
 * relayed through the adapter's control messages to that node, which hands it to its stream and
 * answers whether it could. The POST is answered with that outcome: 202 once the request is in
 * the stream's message path (its own answer, an `ack` or `error` with the request's id, arrives
 * on the stream), 404 when no node holds a stream with that key.
 */
import { randomBytes } from 'node:crypto'
import type { ControlMessage } from '../adapters/adapter.js'
import type { SseConnection } from './sse.js'

/** Control message kinds of the relay. */
const POST = 'sse.post'
const POSTED = 'sse.posted'

/** Node tags and connection ids are base64url; secrets too. */
const KEY_PATTERN = /^([A-Za-z0-9_-]{1,16})\.([A-Za-z0-9_-]{1,32})\.([A-Za-z0-9_-]{1,64})$/

/** See the module comment. */
export class SseRelay {
  /** The control message kinds the relay sends and handles. */
  static readonly kinds = [POST, POSTED] as const
  /** This node's tag, the first part of its streams' keys. */
  readonly tag = randomBytes(6).toString('base64url')
  readonly #streams = new Map<string, SseConnection>()
  readonly #waiting = new Map<string, (delivered: boolean) => void>()
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
   * @returns whether a stream took it
   */
  async deliver (key: string, text: string): Promise<boolean> {
    const parts = KEY_PATTERN.exec(key)
    if (parts === null) return false
    const [, tag = '', connection = '', secret = ''] = parts
    if (tag === this.tag) return this.#handOver(connection, secret, text)
    const reply = randomBytes(9).toString('base64url')
    return await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => { settle(false) }, this.#timeoutMs)
      const settle = (delivered: boolean): void => {
        clearTimeout(timer)
        this.#waiting.delete(reply)
        resolve(delivered)
      }
      this.#waiting.set(reply, settle)
      this.#control({ kind: POST, to: tag, from: this.tag, reply, connection, secret, text }).catch(() => { settle(false) })
    })
  }

  /** A control message from the adapter: a POST relayed to this node, or the answer to one it relayed. */
  onControl (message: ControlMessage): void {
    if (message.to !== this.tag) return
    if (message.kind === POST) {
      const { connection, secret, text, from, reply } = message
      if (typeof connection !== 'string' || typeof secret !== 'string' || typeof text !== 'string' || typeof from !== 'string') return
      const delivered = this.#handOver(connection, secret, text)
      this.#control({ kind: POSTED, to: from, reply, delivered }).catch(() => {})
    } else if (message.kind === POSTED && typeof message.reply === 'string') {
      this.#waiting.get(message.reply)?.(message.delivered === true)
    }
  }

  /** Relayed POSTs waiting for their answer (for leak checks). */
  get waiting (): number {
    return this.#waiting.size
  }

  #handOver (id: string, secret: string, text: string): boolean {
    const stream = this.#streams.get(id)
    if (stream === undefined || !stream.isOpen || !stream.matches(secret)) return false
    stream.clientSent(text)
    return true
  }
}
