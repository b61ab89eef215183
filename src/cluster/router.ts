/**
 * Control messages between nodes (the broker's `control()`): each feature that needs to reach a
 * user, a connection or a node wherever it is registers a handler for its own kinds here, sends
 * through here, and one router dispatches what arrives. Every message is a
 * {@link ControlEnvelope} stamped with this node's id; one addressed to another node is dropped
 * on arrival, and a message from any node marks that node as seen ({@link ControlRouter.onSeen}).
 */
import type { FastifyBaseLogger } from 'fastify'
import type { Broker, ControlMessage } from '../adapters/broker.js'
import { isControlKind, type ControlEnvelope, type ControlKindName } from './kinds.js'

/** Handles the control messages of one kind. */
export type ControlHandler = (envelope: ControlEnvelope) => void

/** Who a message is for and which request it belongs to. */
export interface SendOptions {
  /** One node's id; absent: every node, this one included. */
  to?: string
  /** A request's id (requests and replies). */
  id?: string
}

/** See the module comment. */
export class ControlRouter {
  /** This node's id, in every message it sends. */
  readonly nodeId: string
  /** Called with the sender of every message that arrives (membership listens). */
  onSeen: (nodeId: string) => void = () => {}
  readonly #handlers = new Map<ControlKindName, ControlHandler>()
  readonly #log: FastifyBaseLogger
  #broker: Pick<Broker, 'control'> | null = null

  constructor (nodeId: string, log: FastifyBaseLogger) {
    this.nodeId = nodeId
    this.#log = log
  }

  /** Handle the messages of `kind` (one handler per kind). */
  on (kind: ControlKindName, handler: ControlHandler): void {
    if (this.#handlers.has(kind)) throw new TypeError(`a handler of control messages "${kind}" is already registered`)
    this.#handlers.set(kind, handler)
  }

  /** The broker that carries messages between nodes (set once it is started). */
  connect (broker: Pick<Broker, 'control'>): void {
    this.#broker = broker
  }

  /** Whether a broker is connected (messages can be sent). */
  get connected (): boolean {
    return this.#broker !== null
  }

  /** Send a message of `kind` to every node (this one included) or to the one `options.to` names. */
  async send (kind: ControlKindName, body: unknown, options: SendOptions = {}): Promise<void> {
    if (this.#broker === null) throw new Error('fastify-realtime: control messages before the adapter started')
    const message: ControlMessage = { kind, from: this.nodeId, body: body ?? null }
    if (options.to !== undefined) message.to = options.to
    if (options.id !== undefined) message.id = options.id
    await this.#broker.control(message)
  }

  /** A message arrived (the broker's `onControl`): malformed or unknown ones are ignored, a failing handler is logged. */
  dispatch (message: ControlMessage): void {
    const { kind, from, to, id, body } = message
    if (!isControlKind(kind) || typeof from !== 'string') return
    if (to !== undefined && to !== this.nodeId) return
    if (id !== undefined && typeof id !== 'string') return
    this.onSeen(from)
    const handler = this.#handlers.get(kind)
    if (handler === undefined) return
    const envelope: ControlEnvelope = { kind, from, body }
    if (typeof to === 'string') envelope.to = to
    if (id !== undefined) envelope.id = id
    try {
      handler(envelope)
    } catch (err) {
      this.#log.error({ err, kind }, 'control message handler threw')
    }
  }
}
