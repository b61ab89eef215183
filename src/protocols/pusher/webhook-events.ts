/**
 * The Pusher webhook events, and the small interface through which the Pusher WebSocket side
 * reports the two that are not a channel's lifecycle: a client event (`client-*`) a connection
 * sent, and a cache channel subscribed to with nothing cached. The lifecycle ones
 * (`channel_occupied`, `channel_vacated`, `member_added`, `member_removed`) come from the
 * adapter's once-across-nodes lifecycle events instead (webhooks.ts).
 */

/** Every event a Pusher webhook can report, as Pusher names them. */
export const PUSHER_WEBHOOK_EVENTS = ['channel_occupied', 'channel_vacated', 'member_added', 'member_removed', 'client_event', 'cache_miss'] as const

/** One of {@link PUSHER_WEBHOOK_EVENTS}. */
export type PusherWebhookEvent = typeof PUSHER_WEBHOOK_EVENTS[number]

/** A client event as the `client_event` webhook reports it (Pusher's names, the app's channel name). */
export interface PusherClientEvent {
  /** The channel as the app's clients name it (not the internal name). */
  channel: string
  /** The event name (`client-…`). */
  event: string
  /** The event's data, as the client sent it (a string). */
  data: string
  /** The sender's socket id. */
  socketId: string
  /** On a presence channel: the sender's user id. */
  userId?: string | undefined
}

/**
 * What the Pusher WebSocket side calls when a client event or a cache miss happens on this node
 * (each happens on one node only: the one holding the connection). Cheap and never throws; a
 * no-op when no app has webhooks for the event.
 */
export interface PusherWebhookEvents {
  /** A connection of app `appId` sent a client event. */
  clientEvent: (appId: string, event: PusherClientEvent) => void
  /** A connection of app `appId` subscribed to a cache channel that has nothing cached. */
  cacheMiss: (appId: string, channel: string) => void
}

/** The {@link PusherWebhookEvents} of a node with no Pusher webhooks. */
export const NO_PUSHER_WEBHOOK_EVENTS: PusherWebhookEvents = Object.freeze({ clientEvent: () => {}, cacheMiss: () => {} })
