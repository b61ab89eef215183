/**
 * Control messages between nodes (the adapter's `control()`): each feature that needs to reach a
 * user, a connection or a node wherever it is (the HTTP API's broadcast and node reports, per-user
 * delivery…) registers a handler for its own kinds here; one router dispatches what arrives.
 */
import type { FastifyBaseLogger } from 'fastify'
import type { Broker, ControlMessage } from '../adapters/broker.js'

/** Handles the control messages of one kind. */
export type ControlHandler = (message: ControlMessage) => void

/** See the module comment. */
export class ControlRouter {
  readonly #handlers = new Map<string, ControlHandler>()
  readonly #log: FastifyBaseLogger
  #adapter: Pick<Broker, 'control'> | null = null

  constructor (log: FastifyBaseLogger) {
    this.#log = log
  }

  /** Handle the messages of `kind` (one handler per kind). */
  on (kind: string, handler: ControlHandler): void {
    if (this.#handlers.has(kind)) throw new TypeError(`a handler of control messages "${kind}" is already registered`)
    this.#handlers.set(kind, handler)
  }

  /** The broker that carries messages between nodes (set once it is started). */
  connect (adapter: Pick<Broker, 'control'>): void {
    this.#adapter = adapter
  }

  /** Send a message to every node, this one included. */
  async send (message: ControlMessage): Promise<void> {
    if (this.#adapter === null) throw new Error('fastify-realtime: control messages before the adapter started')
    await this.#adapter.control(message)
  }

  /** A message arrived (the adapter's `onControl`); unknown kinds are ignored, a failing handler is logged. */
  dispatch (message: ControlMessage): void {
    const handler = this.#handlers.get(message.kind)
    if (handler === undefined) return
    try {
      handler(message)
    } catch (err) {
      this.#log.error({ err, kind: message.kind }, 'control message handler threw')
    }
  }
}
