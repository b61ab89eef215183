/**
 * Pusher channel names and ours. Pusher's may hold `=`, `,` and `;`, which ours may not, and up
 * to 164 characters: inside, each of those three is written `$` and its two hex digits (`$3d`,
 * `$2c`, `$3b`; a Pusher name never holds `$`, so nothing else is read as an escape). The first
 * app shares our namespace (its `orders` IS our `orders`); any other app's channels are
 * `<appId>/<name>` inside (a Pusher name never holds `/`), so apps never see each other's. A name
 * whose inside form is longer than ours allow (128) cannot be used.
 */

/** A Pusher channel name (Pusher's own rule). */
export const PUSHER_CHANNEL_NAME = /^[A-Za-z0-9_\-=@,.;]{1,164}$/

/** The user channel pusher-js subscribes to after `pusher:signin_success`. */
export const SERVER_TO_USER_PREFIX = '#server-to-user-'

/** What a channel is, by its prefix. */
export type PusherChannelKind = 'public' | 'private' | 'presence' | 'encrypted'

/** A Pusher channel's kind, and whether it is a cache channel (`cache-`, `private-cache-`, `presence-cache-`, `private-encrypted-cache-`). */
export function channelKind (name: string): { kind: PusherChannelKind, cache: boolean } {
  if (name.startsWith('private-encrypted-')) return { kind: 'encrypted', cache: name.startsWith('private-encrypted-cache-') }
  if (name.startsWith('presence-')) return { kind: 'presence', cache: name.startsWith('presence-cache-') }
  if (name.startsWith('private-')) return { kind: 'private', cache: name.startsWith('private-cache-') }
  return { kind: 'public', cache: name.startsWith('cache-') }
}

/** An app as far as its channel names go: its id, and whether it is the first (sharing our namespace). */
export interface ChannelNamespace {
  readonly id: string
  /** `''` for the first app, `<id>/` for the others. */
  readonly channelPrefix: string
}

const ESCAPED = /[=,;]/g
const ESCAPE = /\$([0-9a-f]{2})/g

/**
 * Our channel name of an app's Pusher channel (the name is not checked: see {@link PUSHER_CHANNEL_NAME}).
 * @param app - the app (its `channelPrefix`)
 * @param name - the Pusher channel name
 */
export function pusherChannelName (app: ChannelNamespace, name: string): string {
  return app.channelPrefix + name.replace(ESCAPED, (character) => `$${character.charCodeAt(0).toString(16)}`)
}

/**
 * The Pusher channel name of one of our channels, for an app.
 * @returns the name, or null when the channel is not one of that app's Pusher channels
 */
export function fromInternalChannel (app: ChannelNamespace, internal: string): string | null {
  if (!internal.startsWith(app.channelPrefix)) return null
  const name = internal.slice(app.channelPrefix.length).replace(ESCAPE, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)))
  return PUSHER_CHANNEL_NAME.test(name) ? name : null
}
