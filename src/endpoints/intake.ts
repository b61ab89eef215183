/**
 * What every endpoint does with a connection it made, whatever its transport: take it into
 * service, and what follows when it gets its identity later (an `auth` frame, a `resume` frame).
 *
 * In service: the node (welcome, ticks, heartbeat), the user index, its token deadlines, the
 * channel hooks' request, the server's own subscriptions (the `subscribe` option) each from the
 * position the request names for it, then the rest of the channels it asked for, as its own. A
 * connection that must authenticate first gets the server's channels once it has. A connection
 * with a visitor or channels leaves them behind from the start (resume-store.ts), so that even a
 * crash of this node does not lose them.
 */
import type { FastifyRequest } from 'fastify'
import type { StreamPosition } from '../adapters/adapter.js'
import type { ConnectionAuth } from '../auth/connection-auth.js'
import type { Identity } from '../auth/identity.js'
import type { ChannelService } from '../channels/channel-service.js'
import type { Connection } from '../node/connection.js'
import type { RealtimeNode } from '../node/realtime-node.js'
import type { ResumeStore } from '../recovery/resume-store.js'
import type { UserIndex } from '../users/user-index.js'
import type { UserService } from '../users/user-service.js'
import type { ChannelListEntry } from '../protocols/ours/channel-list.js'
import type { WelcomeMessage } from '../protocols/ours/server-messages.js'

/** The channels a new connection asked for, and how many past publications each replays. */
export interface RestoreRequest {
  entries: readonly ChannelListEntry[]
  rewind: number
}

/** What {@link ConnectionIntake} is made from. */
export interface IntakeParts {
  node: Pick<RealtimeNode, 'accept'>
  users: Pick<UserIndex, 'add'>
  auth: Pick<ConnectionAuth, 'start'>
  channels: Pick<ChannelService, 'bindRequest' | 'restore'>
  targeting: Pick<UserService, 'atConnect'>
  resumeStore: Pick<ResumeStore, 'changed'>
  /** The `requireAuth` option: an anonymous connection gets the server's channels once it authenticates. */
  requireAuth: boolean
}

/** See the module comment. */
export class ConnectionIntake {
  readonly #parts: IntakeParts

  constructor (parts: IntakeParts) {
    this.#parts = parts
  }

  /**
   * Take a connection an endpoint made for an admitted request into service (see the module comment).
   * @param who - the identity the gate resolved for the request (`gate.identityOf`)
   * @param welcome - what the transport adds to the welcome (a resume token, a stream key)
   */
  accept (connection: Connection, request: FastifyRequest, who: Identity, welcome: Pick<WelcomeMessage, 'resume' | 'stream'>, restore: RestoreRequest): void {
    const { node, users, auth, channels, targeting, resumeStore, requireAuth } = this.#parts
    node.accept(connection, welcome)
    users.add(connection)
    auth.start(connection, who)
    channels.bindRequest(connection, request)
    if (who.visitor !== null) resumeStore.changed(connection)
    const positions = new Map(restore.entries.flatMap(({ channel, since }) => since === undefined ? [] : [[channel, since] as const]))
    const serverChannels = requireAuth && connection.visitor === null ? Promise.resolve() : targeting.atConnect(connection, request, positions)
    if (restore.entries.length === 0) return
    // After the server's own: restore skips what the connection already has.
    serverChannels
      .then(async () => { await channels.restore(connection, restore.entries, restore.rewind) })
      .catch((err: unknown) => { connection.log.error({ err }, 'restoring the connection\'s channels failed') })
  }

  /** An `auth` frame identified the connection: the user index and the server's channels, kept from now on. */
  identified (connection: Connection): void {
    const { users, targeting, resumeStore } = this.#parts
    resumeStore.changed(connection)
    users.add(connection)
    targeting.atConnect(connection, undefined).catch(() => {}) // it logs its own failures
  }

  /**
   * A `resume` frame brought back the old connection's visitor: as {@link identified}, with its
   * token deadline, and the server's channels each from the position the old connection reached.
   */
  async resumed (connection: Connection, who: Identity, positions: ReadonlyMap<string, StreamPosition>): Promise<void> {
    const { users, auth, targeting, resumeStore } = this.#parts
    resumeStore.changed(connection)
    users.add(connection)
    auth.start(connection, who)
    await targeting.atConnect(connection, undefined, positions)
  }
}
