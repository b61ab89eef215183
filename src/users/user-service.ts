/**
 * Reaching a user wherever they are connected: `sendToUser`, `disconnect` (by user or by
 * connection), and server-side `subscribeUser` / `unsubscribeUser`, each a control message (the cluster's
 * {@link ControlRouter} over the adapter's `control()`: every node, itself included, once each),
 * which every node applies to its own connections of that user ({@link UserIndex}). So one call reaches every socket of the user
 * on every node exactly once, on the memory adapter and on Redis alike. Also the server-side
 * subscriptions made at connect (the `subscribe` option).
 */
import type { FastifyRequest } from 'fastify'
import type { StreamPosition } from '../adapters/broker.js'
import type { ControlEnvelope } from '../cluster/kinds.js'
import type { ChannelService } from '../channels/channel-service.js'
import { clipCloseReason, CloseCode, CloseReason, InvalidArgumentError, UnknownChannelError } from '../errors.js'
import type { RealtimeMetrics } from '../metrics/metrics.js'
import type { Connection } from '../node/connection.js'
import { ControlKind } from '../cluster/kinds.js'
import type { ControlRouter } from '../cluster/router.js'
import type { Hub } from '../node/hub.js'
import type { Visitor } from '../node/visitor.js'
import { FramesPerProtocol } from '../protocols/frames-per-protocol.js'
import { ADDRESSEE, type DirectMessage } from '../protocols/ours/server-messages.js'
import type { UserIndex } from './user-index.js'

/** Whom `disconnect` closes: every connection of a user, or one connection by its id. */
export type DisconnectTarget = { user: string } | { connId: string }

/** The control messages of this service (declared with every other kind in cluster/kinds.ts). */
const USER_KINDS = [ControlKind.USER_SEND, ControlKind.USER_DISCONNECT, ControlKind.USER_SUBSCRIBE, ControlKind.USER_UNSUBSCRIBE] as const

/** What {@link UserService} is made from. */
export interface UserServiceOptions {
  /** Sends control messages to every node, and dispatches those that arrive here. */
  control: ControlRouter
  hub: Hub
  channels: ChannelService
  index: UserIndex
  /** The `subscribe` option: channels to subscribe a connection to when it is welcomed. */
  subscribeAtConnect: ((visitor: Visitor | null, request: FastifyRequest | undefined) => readonly string[] | Promise<readonly string[]>) | undefined
  metrics: RealtimeMetrics
}

/** Longest user id accepted, in characters (as a token's `sub`); the HTTP API's path schema is made from it. */
export const MAX_USER_LENGTH = 256

/** The application close codes `disconnect` takes besides 1000 (the HTTP API's body schema is made from them). */
export const APP_CLOSE_CODES = Object.freeze({ minimum: 4000, maximum: 4999 })

function checkUser (user: unknown): string {
  if (typeof user !== 'string' || user === '' || user.length > MAX_USER_LENGTH) {
    throw new InvalidArgumentError('user', `expected a visitor id (1–${MAX_USER_LENGTH} characters), got ${JSON.stringify(user) ?? String(user)}`)
  }
  return user
}

/** A close code an application may send: 1000, or an application code 4000–4999. */
function checkCode (code: unknown): number {
  const { minimum, maximum } = APP_CLOSE_CODES
  if (code === CloseCode.NORMAL || (typeof code === 'number' && Number.isInteger(code) && code >= minimum && code <= maximum)) return code
  throw new InvalidArgumentError('code', `expected ${CloseCode.NORMAL} or an application close code from ${minimum} to ${maximum} (${CloseCode.KICKED}–${maximum}: do not reconnect), got ${JSON.stringify(code)}`)
}

const isString = (value: unknown): value is string => typeof value === 'string'
const isPosition = (value: unknown): value is StreamPosition =>
  typeof value === 'object' && value !== null && Number.isInteger((value as StreamPosition).offset) && typeof (value as StreamPosition).epoch === 'string'

/** See the module comment. */
export class UserService {
  readonly #options: UserServiceOptions

  constructor (options: UserServiceOptions) {
    this.#options = options
    for (const kind of USER_KINDS) options.control.on(kind, (envelope) => { this.handleControl(envelope) })
  }

  /**
   * Send `data` to every connection of `user` on every node, once each, as a `direct` frame.
   * @returns once the message is on its way to every node
   */
  async sendToUser (user: string, data: unknown, event?: string): Promise<void> {
    const body: Record<string, unknown> = { user: checkUser(user), data: data ?? null, t: Date.now() }
    if (event !== undefined) body.event = event
    await this.#options.control.send(ControlKind.USER_SEND, body)
  }

  /**
   * Close every connection of a user, or one connection, on whichever node it is.
   * @param code - 1000 or 4000–4999 @default 4500 (do not reconnect)
   * @param reason - at most 123 bytes (longer is clipped) @default 'disconnected by the server'
   */
  async disconnect (target: DisconnectTarget, code: number = CloseCode.KICKED, reason: string = CloseReason.KICKED): Promise<void> {
    const checked = checkCode(code)
    const clipped = clipCloseReason(String(reason))
    if (typeof target === 'object' && target !== null && 'user' in target) {
      await this.#options.control.send(ControlKind.USER_DISCONNECT, { user: checkUser(target.user), code: checked, reason: clipped })
      return
    }
    const connId = (target as { connId?: unknown } | null)?.connId
    if (typeof connId !== 'string' || connId === '') throw new InvalidArgumentError('target', 'expected { user } or { connId }')
    await this.#options.control.send(ControlKind.USER_DISCONNECT, { connId, code: checked, reason: clipped })
  }

  /**
   * Subscribe every live connection of `user`, on every node, to `channel`, as if each had sent a
   * `sub` at this moment: the stream starts at the channel's position now, so every publication
   * made after this resolves reaches them in order (exactly, when the channel keeps history), with
   * presence as for a client subscription. Connections already subscribed are left as they are.
   * @throws UnknownChannelError when no declaration matches the channel
   */
  async subscribeUser (user: string, channel: string): Promise<void> {
    checkUser(user)
    const since = await this.#options.channels.position(channel)
    await this.#options.control.send(ControlKind.USER_SUBSCRIBE, { user, channel, since })
  }

  /**
   * End the subscription to `channel` of every live connection of `user`, on every node (each gets
   * an `unsubscribed` frame), whoever made it.
   * @throws UnknownChannelError when no declaration matches the channel
   */
  async unsubscribeUser (user: string, channel: string): Promise<void> {
    checkUser(user)
    if (!this.#options.channels.isDeclared(channel)) throw new UnknownChannelError(channel)
    await this.#options.control.send(ControlKind.USER_UNSUBSCRIBE, { user, channel })
  }

  /**
   * A control message reached this node: apply it to this node's connections.
   * @returns whether it was one of this service's
   */
  handleControl (envelope: ControlEnvelope): boolean {
    const message: Record<string, unknown> = typeof envelope.body === 'object' && envelope.body !== null ? envelope.body as Record<string, unknown> : {}
    switch (envelope.kind) {
      case ControlKind.USER_SEND:
        if (isString(message.user)) this.#sendToUser(message.user, message.data, typeof message.t === 'number' ? message.t : Date.now(), isString(message.event) ? message.event : undefined)
        return true
      case ControlKind.USER_DISCONNECT:
        this.#disconnect(message)
        return true
      case ControlKind.USER_SUBSCRIBE:
        if (isString(message.user) && isString(message.channel)) {
          for (const connection of this.#options.index.of(message.user)) {
            this.#options.channels.subscribeFromServer(connection, message.channel, 'server', isPosition(message.since) ? message.since : undefined)
          }
        }
        return true
      case ControlKind.USER_UNSUBSCRIBE:
        if (isString(message.user) && isString(message.channel)) {
          for (const connection of this.#options.index.of(message.user)) this.#options.channels.unsubscribeFromServer(connection, message.channel)
        }
        return true
      default:
        return false
    }
  }

  /**
   * A connection was welcomed (`request` set), or an anonymous one authenticated (`request`
   * undefined): run the `subscribe` option and subscribe it to what it returns, each channel from
   * the position the connection brought back for it (`positions`: a reconnecting client's, so
   * that what was published while it was away is replayed, as for its own subscriptions).
   * @returns settles once the subscriptions are under way (never rejects)
   */
  async atConnect (connection: Connection, request: FastifyRequest | undefined, positions: ReadonlyMap<string, StreamPosition> = new Map()): Promise<void> {
    const hook = this.#options.subscribeAtConnect
    if (hook === undefined) return
    try {
      const channels: unknown = await hook(connection.visitor, request)
      if (!Array.isArray(channels)) throw new TypeError('the subscribe option must return an array of channel names')
      for (const channel of channels as unknown[]) {
        if (isString(channel) && this.#options.channels.isDeclared(channel)) this.#options.channels.subscribeFromServer(connection, channel, 'connect', positions.get(channel))
        else connection.log.warn({ channel }, 'subscribe option returned an undeclared channel; skipped')
      }
    } catch (err) {
      connection.log.error({ err }, 'subscribe option failed; no server-side subscriptions for this connection')
    }
  }

  /** One `direct` frame, built once per protocol, to every connection of the user on this node. */
  #sendToUser (user: string, data: unknown, t: number, event: string | undefined): void {
    const connections = this.#options.index.of(user)
    if (connections.length === 0) return
    const message: DirectMessage = event === undefined ? { type: 'direct', t, data } : { type: 'direct', t, data, event }
    message[ADDRESSEE] = user
    const frames = new FramesPerProtocol(message)
    for (const connection of connections) frames.send(connection, 'message')
    frames.report((frame, sent) => { if (sent > 0) this.#options.metrics.frameOut('direct', frame.payloadBytes, sent) })
  }

  #disconnect (message: Record<string, unknown>): void {
    const code = typeof message.code === 'number' ? message.code : CloseCode.KICKED
    const reason = isString(message.reason) ? message.reason : CloseReason.KICKED
    let targets: Connection[] = []
    if (isString(message.user)) {
      targets = this.#options.index.of(message.user)
    } else if (isString(message.connId)) {
      // Kicks are rare: a walk of this node's connections costs less than an index kept for them.
      for (const connection of this.#options.hub) {
        if (connection.id === message.connId) {
          targets = [connection]
          break
        }
      }
    }
    for (const connection of targets) {
      connection.log.info({ code, reason }, 'disconnected by the server')
      connection.close(code, reason)
    }
  }
}
