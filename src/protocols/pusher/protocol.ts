/**
 * Pusher's protocol (version 7) as a wire protocol (protocols/protocol.ts), one object per app
 * (its key, its channel namespace, its activity timeout). It translates at the edge only:
 *
 * - `decode`: `pusher:subscribe`, `pusher:unsubscribe`, `pusher:ping`/`pong`, `pusher:signin` and
 *   `client-*` frames into the requests of requests.ts (src/pusher/ handles them);
 * - `encode`: our `welcome` as `pusher:connection_established` (`socket_id`, `activity_timeout`);
 *   a subscribe's `ack` as `pusher_internal:subscription_succeeded` (a presence channel's waits for
 *   the snapshot, which becomes it, with `{presence: {ids, hash, count}}`); an `error` answering a
 *   subscribe as `pusher:subscription_error` on its channel, any other as `pusher:error`; a `pub`
 *   as its event (`message` when it has no name) on its Pusher channel, with `user_id` for a
 *   client event on a presence channel; presence joins and leaves as
 *   `pusher_internal:member_added`/`member_removed`; a `direct` as its event on
 *   `#server-to-user-<id>`; nothing for ticks, broadcasts, refreshes and server-side subscriptions;
 * - `closeCode`: close-codes.ts;
 * - connection ids are Pusher socket ids (`123.456`).
 *
 * The handlers mark a subscribe they start with the request id `s:<channel>`, so that its answer
 * (an ack carries its channel, an error only that id) is found again here.
 */
import { ClientErrorCode } from '../../errors.js'
import type { DecodedFrame } from '../ours/client-messages.js'
import { ADDRESSEE, SENDER, type AckMessage, type ErrorMessage, type PresenceMemberFrame, type ServerMessage } from '../ours/server-messages.js'
import type { WireProtocol } from '../protocol.js'
import { channelKind, fromInternalChannel, SERVER_TO_USER_PREFIX, type ChannelNamespace } from './channel-names.js'
import { pusherCloseCode } from './close-codes.js'
import { pusherError, pusherFrame, PusherCode } from './frames.js'
import type { PusherRequest } from './requests.js'
import { newSocketId } from './signatures.js'

/** The request id marking a subscribe started for a Pusher client, by our channel name. */
export function subscribeRequestId (internal: string): string {
  return `s:${internal}`
}

/** The event a publication without an event name has for Pusher clients. */
export const DEFAULT_EVENT = 'message'

/** What a protocol object is made for. */
export interface PusherProtocolInit {
  app: ChannelNamespace & { readonly key: string }
  /** The `activity_timeout` of `pusher:connection_established`, in seconds. */
  activityTimeoutS: number
}

/** A Pusher protocol object: a WireProtocol, and the app it serves. */
export interface PusherProtocol extends WireProtocol {
  readonly app: PusherProtocolInit['app']
}

const invalid = (message: string): DecodedFrame => ({ kind: 'error', code: ClientErrorCode.INVALID_MESSAGE, message })

/** A `data` field that may come as an object or as its JSON text. */
function objectOf (data: unknown): Record<string, unknown> | null {
  let value = data
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value)
    } catch {
      return null
    }
  }
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? value as Record<string, unknown> : null
}

const optionalString = (value: unknown): value is string | undefined => value === undefined || typeof value === 'string'

/** Decode one Pusher frame (see the module comment). */
export function decodePusherFrame (text: string): DecodedFrame {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return { kind: 'error', code: ClientErrorCode.INVALID_JSON, message: 'A Pusher frame must be JSON.' }
  }
  const frame = objectOf(value)
  if (frame === null || typeof frame.event !== 'string') return invalid('A Pusher frame must be an object with an "event".')
  const event = frame.event
  const message = ((): PusherRequest | DecodedFrame => {
    switch (event) {
      case 'pusher:ping':
      case 'pusher:pong':
        return { type: event }
      case 'pusher:subscribe':
      case 'pusher:unsubscribe': {
        const data = objectOf(frame.data)
        if (data === null || typeof data.channel !== 'string') return invalid(`"${event}" needs data with a "channel".`)
        if (event === 'pusher:unsubscribe') return { type: event, channel: data.channel }
        if (!optionalString(data.auth) || !optionalString(data.channel_data)) return invalid('"pusher:subscribe": "auth" and "channel_data" must be strings.')
        return { type: event, channel: data.channel, auth: data.auth, channelData: data.channel_data }
      }
      case 'pusher:signin': {
        const data = objectOf(frame.data)
        if (data === null || typeof data.auth !== 'string' || typeof data.user_data !== 'string') return invalid('"pusher:signin" needs data with "auth" and "user_data" strings.')
        return { type: event, auth: data.auth, userData: data.user_data }
      }
      default:
        if (event.startsWith('client-')) {
          if (typeof frame.channel !== 'string') return invalid('A client event needs a "channel".')
          return { type: 'pusher:client-event', channel: frame.channel, event, data: frame.data }
        }
        return { kind: 'error', code: ClientErrorCode.UNKNOWN_TYPE, message: `Unknown event ${JSON.stringify(event)}.` }
    }
  })()
  return 'kind' in message ? message : { kind: 'message', message }
}

/** Make the protocol object of one app (see the module comment). */
export function pusherProtocol (init: PusherProtocolInit): PusherProtocol {
  const { app, activityTimeoutS } = init
  /** A channel of ours as this app's clients name it, or null when it is none of theirs. */
  const nameOf = (internal: string): string | null => fromInternalChannel(app, internal)

  const presenceData = (members: PresenceMemberFrame[]): { presence: { ids: string[], hash: Record<string, unknown>, count: number } } => {
    const hash: Record<string, unknown> = {}
    for (const member of members) hash[member.id] = member.info ?? (member.name === undefined ? null : { name: member.name })
    return { presence: { ids: members.map((member) => member.id), hash, count: members.length } }
  }

  const ack = (message: AckMessage): string | null => {
    // Only a subscribe's answer says `recovered`; an unsubscribe or a publish has nothing to answer.
    if (typeof message.channel !== 'string' || !('recovered' in message)) return null
    const channel = nameOf(message.channel)
    // A presence channel's success carries its members: the snapshot that follows is it.
    if (channel === null || channelKind(channel).kind === 'presence') return null
    return pusherFrame('pusher_internal:subscription_succeeded', {}, channel)
  }

  const error = (message: ErrorMessage): string | null => {
    if (message.code === ClientErrorCode.CANCELLED || message.code === ClientErrorCode.ALREADY_SUBSCRIBED) return null
    const id = message.id
    if (typeof id === 'string' && id.startsWith('s:')) {
      const channel = nameOf(id.slice(2))
      if (channel === null) return null
      const denied = message.code === ClientErrorCode.TOKEN_REQUIRED || message.code === ClientErrorCode.TOKEN_INVALID || message.code === ClientErrorCode.FORBIDDEN || message.code === ClientErrorCode.SERVER_ONLY
      return pusherFrame('pusher:subscription_error', { type: denied ? 'AuthError' : 'SubscriptionError', error: message.message, status: denied ? 403 : 400 }, channel)
    }
    return pusherError(message.message, message.code === ClientErrorCode.RATE_LIMITED ? PusherCode.CLIENT_EVENT_RATE : null)
  }

  const encode = (message: ServerMessage): string | null => {
    switch (message.type) {
      case 'welcome':
        return pusherFrame('pusher:connection_established', { socket_id: message.connId, activity_timeout: activityTimeoutS })
      case 'ack':
        return ack(message)
      case 'error':
        return error(message)
      case 'pub': {
        const channel = nameOf(message.channel)
        return channel === null ? null : pusherFrame(message.event ?? DEFAULT_EVENT, message.data, channel, message[SENDER])
      }
      case 'presence': {
        const channel = nameOf(message.channel)
        if (channel === null) return null
        if (message.action === 'snapshot') return pusherFrame('pusher_internal:subscription_succeeded', presenceData(message.members), channel)
        if (message.action === 'leave') return pusherFrame('pusher_internal:member_removed', { user_id: message.member.id }, channel)
        return pusherFrame('pusher_internal:member_added', { user_id: message.member.id, user_info: presenceData([message.member]).presence.hash[message.member.id] }, channel)
      }
      case 'direct': {
        const user = message[ADDRESSEE]
        return user === undefined ? null : pusherFrame(message.event ?? DEFAULT_EVENT, message.data, SERVER_TO_USER_PREFIX + user)
      }
      default:
        // tick, broadcast, refresh, subscribed, unsubscribed: Pusher has no such frame.
        return null
    }
  }

  return Object.freeze({
    name: `pusher:${app.key}`,
    app,
    decode: decodePusherFrame,
    requestIdOf: () => undefined,
    encode,
    closeCode: pusherCloseCode,
    newConnectionId: newSocketId
  })
}
