/**
 * What a Pusher client asks for beyond our own messages, handled on the node (`node.on`) for the
 * requests Pusher's protocol object decodes (protocols/pusher/requests.ts):
 *
 * - `pusher:subscribe`: the channel's kind by its prefix; private, presence and encrypted
 *   channels need the app's signature over `socket_id:channel[:channel_data]` (checked in constant
 *   time), which stands in for our channel token; a presence subscription is listed as the
 *   `user_id` / `user_info` of its signed `channel_data`; a cache channel replays its last event,
 *   or says `pusher:cache_miss`. Then it is our subscribe, answered through the protocol object.
 *   `#server-to-user-<id>` is the signed-in user's own channel: answered at once, delivery comes
 *   from `sendToUser`.
 * - `pusher:unsubscribe`: our unsubscribe, unanswered.
 * - `pusher:ping`: `pusher:pong`.
 * - `pusher:signin`: the signature over `socket_id::user::user_data`; the connection becomes that
 *   user (its visitor id) in the user index, as an `auth` frame would make it.
 * - client events (`client-*`): private and presence channels only (not encrypted ones), once
 *   subscribed, at most `maxClientEventsPerSecond` (else `pusher:error` 4301); published with the
 *   sender excluded (`except`, on every node) and, on presence, its `user_id`.
 *
 * And an optional sign-in deadline: a connection not signed in within
 * `userAuthenticationTimeoutMs` is closed (4009).
 */
import type { FastifyBaseLogger } from 'fastify'
import type { ChannelService } from '../channels/channel-service.js'
import { isChannelName, type ChannelRegistry } from '../channels/policy.js'
import type { SubscriptionMember } from '../channels/subscription.js'
import { CloseCode } from '../errors.js'
import { TokenBucket } from '../limits/token-bucket.js'
import type { Connection } from '../node/connection.js'
import type { RealtimeNode } from '../node/realtime-node.js'
import { channelKind, pusherChannelName, PUSHER_CHANNEL_NAME, SERVER_TO_USER_PREFIX } from '../protocols/pusher/channel-names.js'
import { pusherError, pusherFrame, PusherCode } from '../protocols/pusher/frames.js'
import type { ResolvedPusherApp, ResolvedPusherOptions } from '../protocols/pusher/options.js'
import type { PusherWebhookEvents } from '../protocols/pusher/webhook-events.js'
import { pusherProtocol, subscribeRequestId, type PusherProtocol } from '../protocols/pusher/protocol.js'
import type { PusherClientEventRequest, PusherSigninRequest, PusherSubscribeRequest } from '../protocols/pusher/requests.js'
import { channelAuthText, userAuthText, verifyAuth } from '../protocols/pusher/signatures.js'
import type { WireProtocol } from '../protocols/protocol.js'

/** Longest client event name (Pusher's limit). */
const MAX_EVENT_NAME_LENGTH = 200

/** What a {@link PusherService} is made from. */
export interface PusherServiceInit {
  options: ResolvedPusherOptions
  node: Pick<RealtimeNode, 'on' | 'onConnectionOpen' | 'onConnectionClose'>
  channels: Pick<ChannelService, 'subscribeClient' | 'leave' | 'liveSubscription' | 'publish'>
  /** The channel policies (with Pusher's by prefix for names nobody declared). */
  registry: Pick<ChannelRegistry, 'match'>
  /** A connection became a user (the intake's `identified`: the user index, the server's channels). */
  identified: (connection: Connection) => void
  /**
   * Where client events and cache misses are reported (Pusher's webhooks): each happens on the one
   * node holding the connection, so it is told there, once. Absent: no app has webhooks.
   */
  webhooks?: PusherWebhookEvents
  log: FastifyBaseLogger
}

/** What the service keeps per Pusher connection, made as it opens. */
interface PusherConnectionState {
  readonly app: ResolvedPusherApp
  /** Its client events' rate, made on the first one. */
  clientEvents: TokenBucket | null
  /** The sign-in deadline, while it runs. */
  signinTimer: ReturnType<typeof setTimeout> | null
}

/** See the module comment. */
export class PusherService {
  readonly #init: PusherServiceInit
  /** Each app's protocol object, by the object (a connection's `protocol` finds its app). */
  readonly #apps = new Map<WireProtocol, ResolvedPusherApp>()
  readonly #byKey = new Map<string, PusherProtocol>()
  readonly #state = new WeakMap<Connection, PusherConnectionState>()

  constructor (init: PusherServiceInit) {
    this.#init = init
    for (const app of init.options.apps) {
      const protocol = pusherProtocol({ app, activityTimeoutS: init.options.activityTimeoutS })
      this.#apps.set(protocol, app)
      this.#byKey.set(app.key, protocol)
    }
  }

  /** The protocol object of the app with this key, or undefined for an unknown key. */
  protocolOf (key: string): PusherProtocol | undefined {
    return this.#byKey.get(key)
  }

  /** Every app's protocol object, with its key. */
  get protocols (): ReadonlyMap<string, PusherProtocol> {
    return this.#byKey
  }

  /** Install the handlers of Pusher's requests on the node, and follow its connections. */
  attach (): void {
    const { node } = this.#init
    node.on('pusher:subscribe', (connection, message) => { this.#subscribe(connection, message) })
    node.on('pusher:unsubscribe', (connection, message) => { this.#unsubscribe(connection, message.channel) })
    node.on('pusher:ping', (connection) => { connection.send(pusherFrame('pusher:pong', {})) })
    node.on('pusher:pong', () => {})
    node.on('pusher:signin', (connection, message) => { this.#signin(connection, message) })
    node.on('pusher:client-event', (connection, message) => { this.#clientEvent(connection, message) })
    node.onConnectionOpen((connection) => { this.#opened(connection) })
    node.onConnectionClose((connection) => { this.#closed(connection) })
  }

  #opened (connection: Connection): void {
    const app = this.#apps.get(connection.protocol)
    if (app === undefined) return
    const state: PusherConnectionState = { app, clientEvents: null, signinTimer: null }
    this.#state.set(connection, state)
    const timeoutMs = this.#init.options.userAuthenticationTimeoutMs
    if (timeoutMs > 0 && connection.visitor === null) {
      state.signinTimer = setTimeout(() => {
        state.signinTimer = null
        if (connection.closed || connection.visitor !== null) return
        connection.log.info({ timeoutMs }, 'no pusher:signin in time: closing')
        // AUTH_REQUIRED is 4009 in Pusher's codes: the client does not come back unsigned.
        connection.close(CloseCode.AUTH_REQUIRED, 'sign-in timeout')
      }, timeoutMs)
      state.signinTimer.unref()
    }
  }

  #closed (connection: Connection): void {
    const state = this.#state.get(connection)
    if (state?.signinTimer != null) clearTimeout(state.signinTimer)
  }

  #subscribe (connection: Connection, message: PusherSubscribeRequest): void {
    const state = this.#state.get(connection)
    if (state === undefined) return
    const { app } = state
    const name = message.channel
    const refuse = (error: string, status: number): void => {
      connection.send(pusherFrame('pusher:subscription_error', { type: status === 401 ? 'AuthError' : 'SubscriptionError', error, status }, name))
    }
    if (name.startsWith(SERVER_TO_USER_PREFIX)) {
      // The signed-in user's own channel: nothing to subscribe to, sendToUser reaches the user's sockets.
      if (connection.visitor !== null && connection.visitor.id === name.slice(SERVER_TO_USER_PREFIX.length)) {
        connection.send(pusherFrame('pusher_internal:subscription_succeeded', {}, name))
      } else {
        refuse('Sign in as this user first (pusher:signin).', 401)
      }
      return
    }
    const internal = pusherChannelName(app, name)
    if (!PUSHER_CHANNEL_NAME.test(name) || !isChannelName(internal)) {
      refuse(`Invalid channel name ${JSON.stringify(name)}: 1–164 characters of letters, digits and _ - = @ , . ; (at most 128 once = , ; are counted as 3).`, 400)
      return
    }
    const { kind, cache } = channelKind(name)
    let member: SubscriptionMember | undefined
    if (kind !== 'public') {
      const channelData = kind === 'presence' ? message.channelData : undefined
      if (kind === 'presence' && channelData === undefined) {
        refuse('A presence channel needs channel_data.', 401)
        return
      }
      if (message.auth === undefined || !verifyAuth(app, message.auth, channelAuthText(connection.id, name, channelData))) {
        refuse('Invalid signature: the auth does not sign this socket_id and channel with the app\'s secret.', 401)
        return
      }
      if (channelData !== undefined) {
        const parsed = presenceMember(channelData)
        if (parsed === null) {
          refuse('channel_data must be JSON with a "user_id".', 400)
          return
        }
        member = parsed
      }
    }
    if (kind === 'presence' && this.#init.registry.match(internal)?.presence === false) {
      refuse('This server does not list members in this channel (its declaration has no presence).', 400)
      return
    }
    const onLive = cache
      ? (replayed: number): void => {
          if (replayed > 0) return
          connection.send(JSON.stringify({ event: 'pusher:cache_miss', channel: name }))
          this.#init.webhooks?.cacheMiss(app.id, name)
        }
      : undefined
    this.#init.channels.subscribeClient(connection, cache
      ? { type: 'sub', channel: internal, id: subscribeRequestId(internal), rewind: 1 }
      : { type: 'sub', channel: internal, id: subscribeRequestId(internal) }, {
      signed: kind !== 'public',
      ...(member === undefined ? {} : { member }),
      ...(onLive === undefined ? {} : { onLive })
    }).catch(() => {}) // it answers its own failures
  }

  #unsubscribe (connection: Connection, name: string): void {
    const state = this.#state.get(connection)
    if (state === undefined || name.startsWith(SERVER_TO_USER_PREFIX)) return
    this.#init.channels.leave(connection, pusherChannelName(state.app, name))
  }

  #signin (connection: Connection, message: PusherSigninRequest): void {
    const state = this.#state.get(connection)
    if (state === undefined) return
    if (!verifyAuth(state.app, message.auth, userAuthText(connection.id, message.userData))) {
      connection.send(pusherError('Invalid signature: the auth does not sign this socket_id and user_data with the app\'s secret.', PusherCode.UNAUTHORIZED))
      return
    }
    const user = userIdOf(message.userData)
    if (user === null) {
      connection.send(pusherError('user_data must be JSON with a string "id".', PusherCode.UNAUTHORIZED))
      return
    }
    const current = connection.visitor
    if (current !== null && current.id !== user) {
      connection.send(pusherError('This connection is already signed in as another user.', PusherCode.UNAUTHORIZED))
      return
    }
    if (state.signinTimer !== null) {
      clearTimeout(state.signinTimer)
      state.signinTimer = null
    }
    if (current === null) {
      connection.visitor = { id: user }
      this.#init.identified(connection)
    }
    connection.send(pusherFrame('pusher:signin_success', { user_data: message.userData }))
  }

  #clientEvent (connection: Connection, message: PusherClientEventRequest): void {
    const state = this.#state.get(connection)
    if (state === undefined) return
    const { app } = state
    const name = message.channel
    const { kind } = channelKind(name)
    if (kind !== 'private' && kind !== 'presence') {
      connection.send(pusherError(`Client events are allowed on private and presence channels only, not on ${JSON.stringify(name)}.`))
      return
    }
    if (message.event.length > MAX_EVENT_NAME_LENGTH) {
      connection.send(pusherError(`Event names are at most ${MAX_EVENT_NAME_LENGTH} characters.`))
      return
    }
    const internal = pusherChannelName(app, name)
    const subscription = this.#init.channels.liveSubscription(connection, internal)
    if (subscription === undefined) {
      connection.send(pusherError(`Subscribe to ${JSON.stringify(name)} before sending client events to it.`))
      return
    }
    const limit = this.#init.options.maxClientEventsPerSecond
    state.clientEvents ??= new TokenBucket({ ratePerSec: limit, burst: limit })
    if (!state.clientEvents.take()) {
      connection.send(pusherError(`Too many client events: at most ${limit} per second; this one was dropped.`, PusherCode.CLIENT_EVENT_RATE))
      return
    }
    const userId = kind === 'presence' ? subscription.member?.id : undefined
    this.#init.channels.publish(internal, message.data, userId === undefined ? { event: message.event, except: connection.id } : { event: message.event, except: connection.id, userId }).then(() => {
      // Pusher's webhook carries the event's data as the text the client sent (JSON for anything but a string).
      const data = typeof message.data === 'string' ? message.data : JSON.stringify(message.data)
      this.#init.webhooks?.clientEvent(app.id, { channel: name, event: message.event, data, socketId: connection.id, ...(userId === undefined ? {} : { userId }) })
    }, (err: unknown) => {
      connection.log.error({ err, channel: internal }, 'client event failed')
      if (!connection.closed) connection.send(pusherError('The client event could not be delivered right now; try again.'))
    })
  }
}

/** A presence member from signed `channel_data` (`user_id` a string or a number, `user_info` any JSON), or null. */
function presenceMember (channelData: string): SubscriptionMember | null {
  let value: unknown
  try {
    value = JSON.parse(channelData)
  } catch {
    return null
  }
  if (typeof value !== 'object' || value === null) return null
  const { user_id: id, user_info: info } = value as { user_id?: unknown, user_info?: unknown }
  const userId = typeof id === 'number' && Number.isFinite(id) ? String(id) : id
  if (typeof userId !== 'string' || userId === '' || userId.length > 256) return null
  return info === undefined ? { id: userId } : { id: userId, info }
}

/** The `id` of signed `user_data`, or null. */
function userIdOf (userData: string): string | null {
  try {
    const value = JSON.parse(userData) as unknown
    const id = typeof value === 'object' && value !== null ? (value as { id?: unknown }).id : undefined
    return typeof id === 'string' && id !== '' && id.length <= 256 ? id : null
  } catch {
    return null
  }
}

export type { PusherProtocol }
