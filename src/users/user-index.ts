/**
 * This node's connections by user (the connection's visitor id, whether it came from a cookie
 * session, a bearer token or an `auth` frame): what per-user delivery, kicks and server-side
 * subscriptions look up when a control message reaches the node. Anonymous connections are not
 * in it, and an entry lives exactly as long as the user has a connection here.
 */
import type { Connection } from '../node/connection.js'

/** See the module comment. */
export class UserIndex {
  readonly #byUser = new Map<string, Set<Connection>>()

  /** Users with at least one connection on this node. */
  get size (): number {
    return this.#byUser.size
  }

  /** Index a connection under its visitor (no-op for an anonymous one). */
  add (connection: Connection): void {
    const user = connection.visitor?.id
    if (user === undefined) return
    let connections = this.#byUser.get(user)
    if (connections === undefined) {
      connections = new Set()
      this.#byUser.set(user, connections)
    }
    connections.add(connection)
  }

  /** Forget a connection (it closed). A visitor never changes once set, so its id finds the entry. */
  remove (connection: Connection): void {
    const user = connection.visitor?.id
    if (user === undefined) return
    const connections = this.#byUser.get(user)
    if (connections?.delete(connection) === true && connections.size === 0) this.#byUser.delete(user)
  }

  /** The user's connections on this node (a copy: closing them while iterating is safe). */
  of (user: string): Connection[] {
    const connections = this.#byUser.get(user)
    return connections === undefined ? [] : [...connections]
  }
}
