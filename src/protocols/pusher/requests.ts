/**
 * What a Pusher client asks for that our own messages do not say (protocol 7): the requests the
 * Pusher protocol object decodes its frames into, and the node dispatches to the handlers of
 * src/pusher/ (`node.on`). They join our `ClientMessage` union (ours/client-messages.ts), so the
 * node's rate limit, dispatch and error path treat them like ours. Channel names are Pusher's, as
 * the client sent them; the handlers map them (channel-names.ts).
 */

/** `pusher:subscribe`: `auth` (`<key>:<signature>`) for private and presence channels, `channel_data` for presence. */
export interface PusherSubscribeRequest {
  type: 'pusher:subscribe'
  channel: string
  auth?: string | undefined
  channelData?: string | undefined
  /** Never set by a client: every request of ours may carry one, and the node reads it. */
  id?: undefined
}

/** `pusher:unsubscribe`: answered by nothing. */
export interface PusherUnsubscribeRequest {
  type: 'pusher:unsubscribe'
  channel: string
  id?: undefined
}

/** `pusher:ping` (answered by `pusher:pong`) and `pusher:pong` (the client's answer; a sign of life, nothing more). */
export interface PusherPingRequest {
  type: 'pusher:ping' | 'pusher:pong'
  id?: undefined
}

/** `pusher:signin`: `auth` (`<key>:<signature>` over `socket_id::user::user_data`) and the user data it signs. */
export interface PusherSigninRequest {
  type: 'pusher:signin'
  auth: string
  userData: string
  id?: undefined
}

/** A client event (`client-*`): to the others on a private or presence channel. */
export interface PusherClientEventRequest {
  type: 'pusher:client-event'
  channel: string
  event: string
  data: unknown
  id?: undefined
}

/** Every request a Pusher frame decodes into. */
export type PusherRequest = PusherSubscribeRequest | PusherUnsubscribeRequest | PusherPingRequest | PusherSigninRequest | PusherClientEventRequest
