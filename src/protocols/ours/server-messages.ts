/**
 * The frames the server sends: their types, and their serialisation to the text of one frame.
 * The full specification lives in docs/PROTOCOL.md; keep the two in step.
 */

/** The key of {@link PubMessage}'s sender: a symbol, which `JSON.stringify` leaves out. */
export const SENDER: unique symbol = Symbol('sender')

/** The key of {@link DirectMessage}'s user: a symbol, which `JSON.stringify` leaves out. */
export const ADDRESSEE: unique symbol = Symbol('addressee')

/** Sent once, right after the upgrade. */
export interface WelcomeMessage {
  type: 'welcome'
  /** This connection's id, as it appears in the server logs. */
  connId: string
  /** The visitor (session) id, or null for a client without a session. */
  visitor: string | null
  /** How often ticks arrive, in milliseconds (0 when the ticker is off). */
  tickIntervalMs: number
  /** A WebSocket's resume token: present it once, in a `resume` frame after reconnecting, to get everything back. */
  resume?: string
  /** An event stream's key: send it as the `Realtime-Stream` header of the POSTs that act on this stream. */
  stream?: string
}

/** A periodic push from the server's ticker. */
export interface TickMessage {
  type: 'tick'
  /** Increases with every tick a connection receives (shared by the ticks sent in one batch). */
  seq: number
  /** Server time the tick was produced, epoch milliseconds. */
  t: number
  /** The application's tick payload (the `tick` option). */
  data: unknown
}

/** An application broadcast (`fastify.realtime.broadcast`). */
export interface BroadcastMessage {
  type: 'broadcast'
  t: number
  data: unknown
}

/** An error about something the client sent; the connection stays open unless a close follows. */
export interface ErrorMessage {
  type: 'error'
  /** Stable machine-readable code, e.g. `binary_unsupported`. */
  code: string
  /** Human-readable explanation. */
  message: string
  /** The `id` of the client request this answers, when it had one. */
  id?: string | number
  /** Details an RPC handler attached to its error (`RpcError`'s `data`). */
  data?: unknown
}

/**
 * Answers a client request that carried an `id`. A `sub` is always answered (with or without an
 * id), because the client needs the channel's position to recover later.
 */
export interface AckMessage {
  type: 'ack'
  id?: string | number
  /** Request-specific result fields (e.g. `recovered` for a subscribe). */
  [field: string]: unknown
}

/** A publication on a channel the client subscribed to. */
export interface PubMessage {
  type: 'pub'
  channel: string
  /** Position in the channel's stream; with `epoch`, what a client sends back as `since`. */
  offset: number
  epoch: string
  data: unknown
  /** Server time of the publication, epoch milliseconds. */
  t: number
  /** The event name it was published under, only when it has one (`publish(…, { event })`, a Pusher client's event). */
  event?: string
  /**
   * The Pusher user id of a client event's sender on a presence channel (Pusher's `user_id`).
   * Keyed by a symbol, so it is never part of our JSON frame.
   */
  [SENDER]?: string
}

/** A visitor present in a channel. */
export interface PresenceMemberFrame {
  id: string
  name?: string | undefined
  /** What else the member shows, only when it has something (a Pusher subscriber's `user_info`). */
  info?: unknown
}

/** Who is in a channel: a snapshot after subscribing, then joins and leaves. */
export type PresenceMessage =
  | { type: 'presence', channel: string, action: 'snapshot', members: PresenceMemberFrame[] }
  | { type: 'presence', channel: string, action: 'join' | 'leave', member: PresenceMemberFrame }

/** Before the connection's token expires: send a new one in an `auth` frame, or be closed with 4401 at `expiresAt`. */
export interface RefreshMessage {
  type: 'refresh'
  /** Epoch ms at which the current token expires. */
  expiresAt: number
}

/** A message to this connection's user (`fastify.realtime.sendToUser`), on every socket of theirs. */
export interface DirectMessage {
  type: 'direct'
  t: number
  data: unknown
  /** The event name it was sent under, only when it has one (`sendToUser(…, { event })`, Pusher's `sendToUser`). */
  event?: string
  /**
   * The user it goes to: a protocol that names the user in its frame (Pusher's
   * `#server-to-user-<id>`) reads it. Keyed by a symbol, so it is never part of our JSON frame.
   */
  [ADDRESSEE]?: string
}

/** Who re-adds a server-side subscription after a reconnect. */
export type SubscriptionSource = 'server' | 'connect'

/**
 * The server subscribed this connection to a channel: like the `ack` of a `sub`, followed by the
 * replay, the presence snapshot, then live frames.
 */
export interface SubscribedMessage {
  type: 'subscribed'
  channel: string
  offset: number
  epoch: string
  recovered: boolean
  /**
   * `connect`: made by the `subscribe` option, which the server runs again on every connection
   * (the client must not resubscribe). `server`: made by `fastify.realtime.subscribeUser` on the live
   * socket (after a reconnect the client resubscribes with `since`, as for its own).
   */
  source: SubscriptionSource
}

/**
 * The server ended one of this connection's subscriptions: `fastify.realtime.unsubscribe` (no
 * code), or the end of a private channel's grant (`token_expired`).
 */
export interface UnsubscribedMessage {
  type: 'unsubscribed'
  channel: string
  /** Why, when it was not the application's choice: `token_expired`. */
  code?: string
}

/**
 * Publications of a subscribed channel were lost before they reached this server node, and its
 * history cannot give them back (trimmed, a new epoch, a fork after a Redis failover): the
 * subscription goes on after `offset` in `epoch`, as a subscribe answered `recovered: false`
 * would (always false here). The `pub` frames that follow come after that position.
 */
export interface GapMessage {
  type: 'gap'
  channel: string
  offset: number
  epoch: string
  recovered: false
}

/** Every frame the server sends. */
export type ServerMessage = WelcomeMessage | TickMessage | BroadcastMessage | ErrorMessage | AckMessage | PubMessage | PresenceMessage |
RefreshMessage | DirectMessage | SubscribedMessage | UnsubscribedMessage | GapMessage

/** The `gap` frame of a channel whose stream goes on after `position`. */
export function gapMessage (channel: string, position: { offset: number, epoch: string }): GapMessage {
  return { type: 'gap', channel, offset: position.offset, epoch: position.epoch, recovered: false }
}

/** The `pub` frame of a publication. */
export function publicationMessage (publication: { channel: string, offset: number, epoch: string, data: unknown, t: number, event?: string, userId?: string }): PubMessage {
  const message: PubMessage = { type: 'pub', channel: publication.channel, offset: publication.offset, epoch: publication.epoch, data: publication.data, t: publication.t }
  if (publication.event !== undefined) message.event = publication.event
  if (publication.userId !== undefined) message[SENDER] = publication.userId
  return message
}

/**
 * Serialise a server message to the text of one frame.
 * @param message - the message
 * @returns its JSON text
 */
export function encode (message: ServerMessage): string {
  return JSON.stringify(message)
}
