/**
 * This node's registry of connections and its local fan-out.
 * It never knows about adapters or Fastify: it holds connections and writes to them.
 */
import type { Connection } from './connection.js'
import type { SendKind } from '../limits/send-budget.js'
import type { FramesPerProtocol } from '../protocols/frames-per-protocol.js'

/** The connections open on this node. */
export class Hub {
  /** By id: a node finds one of its connections for a message about it from another node. */
  readonly #connections = new Map<string, Connection>()

  /** Number of connections registered. */
  get size (): number {
    return this.#connections.size
  }

  /** Register a connection. */
  add (connection: Connection): void {
    this.#connections.set(connection.id, connection)
  }

  /** Forget a connection (idempotent). */
  remove (connection: Connection): void {
    if (this.#connections.get(connection.id) === connection) this.#connections.delete(connection.id)
  }

  /** Whether a connection is registered. */
  has (connection: Connection): boolean {
    return this.#connections.get(connection.id) === connection
  }

  /** The connection with this id, if it is on this node. */
  get (id: string): Connection | undefined {
    return this.#connections.get(id)
  }

  /** Iterate over the registered connections. */
  [Symbol.iterator] (): IterableIterator<Connection> {
    return this.#connections.values()
  }

  /**
   * Write one message to every OPEN connection, framed once per protocol.
   * @param frames - the message's frames, built as its connections' protocols come up
   * @param kind - how each connection's send budget treats it (`tick` coalesces, `message` closes)
   * @returns how many connections it was sent to
   */
  broadcastFrame (frames: FramesPerProtocol, kind: SendKind): number {
    let sent = 0
    for (const connection of this.#connections.values()) {
      if (frames.send(connection, kind)) sent++
    }
    return sent
  }
}
