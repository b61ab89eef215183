/**
 * Binds a client's POSTs to its event stream, on whichever node the POST lands.
 *
 * A stream's key is `<node>.<connection id>.<secret>`: the node that holds the stream, the
 * stream, and a secret only its `welcome` told. A POST whose key names this node is handed to
 * the stream at once; one that names another node (a balancer without sticky sessions) is
 * relayed to that node as a request (cluster/requests.ts), which hands it to its stream and
 * answers whether it could. The POST is answered with that outcome: 202 once the request is in
 * the stream's message path (its own answer, an `ack` or `error` with the request's id, arrives
 * on the stream), 404 when no node holds a stream with that key, 403 when the POST names a
 * visitor (its cookie session or bearer token) and the stream is another visitor's.
 *
 * The POSTer's visitor travels with a relayed POST and is checked where the stream is, against
 * the stream's visitor at that moment: the key alone never lets one visitor act as another.
 */
import { ControlKind } from '../cluster/kinds.js'
import type { ClusterRequests } from '../cluster/requests.js'
import type { Connection } from '../node/connection.js'
import type { SseConnection } from './sse.js'

/** Node tags and connection ids are base64url; secrets too. */
const KEY_PATTERN = /^([A-Za-z0-9_-]{1,16})\.([A-Za-z0-9_-]{1,32})\.([A-Za-z0-9_-]{1,64})$/

/** What became of a POST: taken by its stream, no stream has the key, or the stream is another visitor's. */
export type RelayOutcome = 'delivered' | 'missing' | 'wrong-visitor'

const OUTCOMES: ReadonlySet<unknown> = new Set<RelayOutcome>(['delivered', 'missing', 'wrong-visitor'])

/** See the module comment. */
export class SseRelay {
  /** This node's id (the cluster's), the first part of its streams' keys. */
  readonly tag: string
  readonly #streams = new Map<string, SseConnection>()
  readonly #requests: ClusterRequests
  readonly #timeoutMs: number

  /**
   * @param nodeId - this node's id (the cluster's)
   * @param requests - the cluster's request/reply: a relayed POST is a request to the stream's node
   * @param timeoutMs - how long a relayed POST waits for the holding node's answer before 404
   */
  constructor (nodeId: string, requests: ClusterRequests, timeoutMs = 3000) {
    this.tag = nodeId
    this.#requests = requests
    this.#timeoutMs = timeoutMs
    requests.answer(ControlKind.SSE_POST, (body) => this.#relayed(body))
  }

  /** Streams open on this node. */
  get size (): number {
    return this.#streams.size
  }

  /** A stream opened on this node. */
  add (connection: SseConnection): void {
    this.#streams.set(connection.id, connection)
  }

  /** A connection of this node ended (one of its streams, or of another transport: then nothing is done). */
  remove (connection: Connection): void {
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
  async forward (key: string, text: string, poster: string | null): Promise<RelayOutcome> {
    const parts = KEY_PATTERN.exec(key)
    if (parts === null) return 'missing'
    const [, tag = '', connection = '', secret = ''] = parts
    if (tag === this.tag) return this.#handOver(connection, secret, text, poster)
    const answers = await this.#requests.ask(ControlKind.SSE_POST, { connection, secret, text, poster }, { to: tag, deadlineMs: this.#timeoutMs })
    const outcome = answers[0]?.body
    return OUTCOMES.has(outcome) ? outcome as RelayOutcome : 'missing'
  }

  /** A POST relayed to this node: hand it to its stream, and answer what became of it. */
  #relayed (body: unknown): RelayOutcome {
    if (typeof body !== 'object' || body === null) return 'missing'
    const { connection, secret, text, poster } = body as Record<string, unknown>
    if (typeof connection !== 'string' || typeof secret !== 'string' || typeof text !== 'string') return 'missing'
    // A relayed POST that does not say who sent it is refused, never taken as anonymous.
    return poster === null || typeof poster === 'string' ? this.#handOver(connection, secret, text, poster) : 'wrong-visitor'
  }

  /** Requests of this node waiting for their answers, relayed POSTs among them (for leak checks). */
  get waiting (): number {
    return this.#requests.waiting
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
