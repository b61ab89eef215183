/**
 * `fastify-realtime/client`: the browser client, a dependency-free ES module.
 *
 * ```ts
 * import { RealtimeClient } from 'fastify-realtime/client'
 * const client = new RealtimeClient('wss://example.com/ws')
 * client.subscribe<{ text: string }>('chat', (message) => { console.log(message.text) })
 * ```
 */
export { RealtimeClient } from './realtime-client.js'
export type { ClientEvents, ClientOptions, PublishResult, Status, StatusChange, Transport } from './realtime-client.js'
export type { SocketLike, WebSocketClass } from './socket.js'
export type { EventSourceClass, EventSourceLike, FetchLike } from './sse-socket.js'
export { Subscription } from './subscription.js'
export type { PresenceChange, Subscribed, SubscriptionEvents, SubscriptionSource, TokenSource } from './subscription.js'
export { ClientSideCode, RealtimeError } from './errors.js'
export type { Unsubscribe } from './emitter.js'
export type {
  AckFrame, BroadcastFrame, DirectFrame, ErrorFrame, PresenceFrame, PresenceMember, PubFrame, Publication, RefreshFrame, RequestId, ServerFrame,
  StreamPosition, SubscribedFrame, TickFrame, UnsubscribedFrame, WelcomeFrame
} from './frames.js'
