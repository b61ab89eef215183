/**
 * The wire protocol as the client sees it (docs/PROTOCOL.md): the frames a server sends and the
 * requests a client makes. The client keeps its own copy of these types so that it imports
 * nothing from the server side and stays a dependency-free module.
 */

/**
 * A position in a channel's stream: what a client sends back as `since` to recover. The mirror of
 * the server's one `StreamPosition` (src/adapters/adapter.ts): the client imports nothing from the server.
 */
export interface StreamPosition {
  offset: number
  epoch: string
}

/** A client request id, echoed in the `ack` or `error` that answers it. */
export type RequestId = string | number

/** `welcome`: once, right after the upgrade. */
export interface WelcomeFrame {
  type: 'welcome'
  connId: string
  /** The visitor (session) id the server identified, or null. */
  visitor: string | null
  tickIntervalMs: number
  /** A WebSocket's resume token (single-use: sent in a `resume` frame after the next open). */
  resume?: string
  /** An event stream's key for its POSTs. */
  stream?: string
}

/** `tick`: the server's periodic push. */
export interface TickFrame<T = unknown> {
  type: 'tick'
  /** The node's tick counter: increases from one tick to the next, with gaps (it is shared by the node's sockets). */
  seq: number
  /** Server time of the tick, epoch milliseconds. */
  t: number
  data: T
}

/** `broadcast`: `fastify.realtime.broadcast(data)`. */
export interface BroadcastFrame<T = unknown> {
  type: 'broadcast'
  t: number
  data: T
}

/** A publication on a channel. */
export interface Publication<T = unknown> {
  channel: string
  offset: number
  epoch: string
  data: T
  /** Server time of the publication, epoch milliseconds. */
  t: number
}

/** `pub`: a publication on a subscribed channel. */
export interface PubFrame<T = unknown> extends Publication<T> {
  type: 'pub'
}

/** A visitor present in a channel. */
export interface PresenceMember {
  id: string
  name?: string
}

/** `presence`: a snapshot after subscribing, then joins and leaves. */
export type PresenceFrame =
  | { type: 'presence', channel: string, action: 'snapshot', members: PresenceMember[] }
  | { type: 'presence', channel: string, action: 'join' | 'leave', member: PresenceMember }

/** `ack`: the answer to a request that succeeded. */
export interface AckFrame {
  type: 'ack'
  id?: RequestId
  channel?: string
  offset?: number
  epoch?: string
  recovered?: boolean
  /** An `rpc`'s result. */
  result?: unknown
  /** A `resume`'s answer: whether the token was honoured. */
  resumed?: boolean
  /** An `auth`'s (or a `resume`'s) visitor id and token expiry (epoch ms). */
  visitor?: string | null
  expiresAt?: number
}

/** `error`: something about a client frame went wrong (the connection stays open). */
export interface ErrorFrame {
  type: 'error'
  code: string
  message: string
  id?: RequestId
  /** Details an RPC handler attached to its error. */
  data?: unknown
}

/** `refresh`: the connection's token expires at `expiresAt`; send a new one. */
export interface RefreshFrame {
  type: 'refresh'
  expiresAt: number
}

/** `direct`: a message to this user (`sendToUser` on the server). */
export interface DirectFrame<T = unknown> {
  type: 'direct'
  t: number
  data: T
}

/** `subscribed`: the server subscribed this connection to a channel (`source`: who re-adds it after a reconnect). */
export interface SubscribedFrame {
  type: 'subscribed'
  channel: string
  offset: number
  epoch: string
  recovered: boolean
  source: 'server' | 'connect'
}

/** `unsubscribed`: the server ended one of this connection's subscriptions. */
export interface UnsubscribedFrame {
  type: 'unsubscribed'
  channel: string
  /** `token_expired`: a private channel's grant ran out (subscribe again with a new token); absent: the application ended it. */
  code?: string
}

/**
 * `gap`: publications of a subscribed channel were lost before they reached the server node and
 * cannot be replayed; the subscription goes on after `offset` in `epoch` (`recovered` is always false).
 */
export interface GapFrame {
  type: 'gap'
  channel: string
  offset: number
  epoch: string
  recovered: false
}

/** Every frame the server sends. */
export type ServerFrame = WelcomeFrame | TickFrame | BroadcastFrame | PubFrame | PresenceFrame | AckFrame | ErrorFrame |
RefreshFrame | DirectFrame | SubscribedFrame | UnsubscribedFrame | GapFrame

/** A request the client sends (every one carries an id, so its answer can be matched). */
export type ClientRequest =
  | { type: 'sub', channel: string, since?: StreamPosition, rewind?: number, token?: string }
  | { type: 'unsub', channel: string }
  | { type: 'pub', channel: string, data: unknown, key: string }
  | { type: 'auth', token: string }
  | { type: 'resume', token: string, channels: Array<{ channel: string, since: StreamPosition }> }
  | { type: 'rpc', method: string, data: unknown }

/**
 * Read one text frame.
 * @returns the frame when it is a JSON object with a string `type`, else null (plain text)
 */
export function parseFrame (text: string): ServerFrame | null {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return null
  }
  if (typeof value !== 'object' || value === null || typeof (value as { type?: unknown }).type !== 'string') return null
  return value as ServerFrame
}
