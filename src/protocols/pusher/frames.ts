/**
 * The text of Pusher's frames (protocol 7): `{"event", "channel"?, "data"}`, with `data` a JSON
 * string, as Pusher's own servers send it (pusher-js parses it; a string payload is sent as it is).
 */

/** Pusher's `data`: a string as it is, anything else as its JSON text. */
export function pusherData (data: unknown): string {
  return typeof data === 'string' ? data : JSON.stringify(data ?? null)
}

/** The text of one frame. `userId`: the sender of a client event on a presence channel. */
export function pusherFrame (event: string, data: unknown, channel?: string, userId?: string): string {
  const frame: { event: string, channel?: string, data: string, user_id?: string } = channel === undefined ? { event, data: pusherData(data) } : { event, channel, data: pusherData(data) }
  if (userId !== undefined) frame.user_id = userId
  return JSON.stringify(frame)
}

/** Pusher's error codes this server sends (in `pusher:error` and as close codes). */
export const PusherCode = Object.freeze({
  /** The app key is unknown: the client stops reconnecting (close code). */
  APP_NOT_FOUND: 4001,
  /** Over the connection quota (close code): the client stops. */
  OVER_QUOTA: 4004,
  /** Not authorised (a kick, a missing sign-in, a policy breach): the client stops (close code). */
  UNAUTHORIZED: 4009,
  /** Reconnect after a second: slow consumer, busy node (close code). */
  RECONNECT_LATER: 4100,
  /** Reconnect at once: a drain, a restart, an error of ours (close code). */
  RECONNECT_NOW: 4200,
  /** A client event over the rate (in `pusher:error`; the connection stays). */
  CLIENT_EVENT_RATE: 4301
} as const)

/** `pusher:error`, with Pusher's code when there is one. */
export function pusherError (message: string, code: number | null = null): string {
  return JSON.stringify({ event: 'pusher:error', data: { code, message } })
}
