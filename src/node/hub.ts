/**
 * This node's registry of connections and its local fan-out.
 * It never knows about adapters or Fastify: it holds connections and writes to them.
 */
import type { Connection } from './connection.js'
import type { SendKind } from '../limits/send-budget.js'
import type { TextFrame } from '../wire/ws-frame.js'

/** The connections open on this node. */
export class Hub {
  readonly #connections = new Set<Connection>()

  /** Number of connections registered. */
  get size (): number {
    return this.#connections.size
  }

  /** Register a connection. */
  add (connection: Connection): void {
    this.#connections.add(connection)
  }

  /** Forget a connection (idempotent). */
  remove (connection: Connection): void {
    this.#connections.delete(connection)
  }

  /** Whether a connection is registered. */
  has (connection: Connection): boolean {
    return this.#connections.has(connection)
  }

  /** Iterate over the registered connections. */
  [Symbol.iterator] (): IterableIterator<Connection> {
    return this.#connections.values()
  }

  /**
   * Write one frame, built once, to every OPEN connection.
   * @param frame - from `textFrame(encode(message))`
   * @param kind - how each connection's send budget treats it (`tick` coalesces, `message` closes)
   * @returns how many connections it was sent to
   */
  broadcastFrame (frame: TextFrame, kind: SendKind): number {
    let sent = 0
    for (const connection of this.#connections) {
      if (connection.deliver(frame, kind)) sent++
    }
    return sent
  }
}
