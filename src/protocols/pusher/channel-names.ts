/**
 * A Pusher app's channel names and the node's (internal) channel names. Each app is its own
 * namespace: the first app's channels ARE our own protocol's (a Pusher channel `orders` of the
 * first app is our channel `orders`); another app's are prefixed `pusher:<app id>:`, a form no
 * Pusher channel name can take (Pusher names have no `:`), so no app reaches another's channels.
 *
 * The smallest version the HTTP API needs (names our channel names already allow); the Pusher
 * WebSocket side owns the full mapping (the characters Pusher allows and ours do not).
 */

/** What an app is to its channel names: its id and its place among the apps. */
export interface PusherAppNamespace {
  readonly id: string
  /** 0 for the first app (our own protocol's namespace). */
  readonly index: number
}

const OTHER_APP = /^pusher:([^:]+):(.+)$/

/** The node's name of an app's channel `name`. */
export function pusherChannelName (app: PusherAppNamespace, name: string): string {
  return app.index === 0 ? name : `pusher:${app.id}:${name}`
}

/** The app's name of an internal channel, or null when the channel is not one of the app's. */
export function fromInternalChannel (app: PusherAppNamespace, internal: string): string | null {
  const other = OTHER_APP.exec(internal)
  if (app.index === 0) return other === null ? internal : null
  return other !== null && other[1] === app.id ? (other[2] ?? null) : null
}
