/**
 * The presence part of the adapter contract, as centrifuge's `PresenceManager`: who is in a
 * channel, one member per visitor, with entries that expire unless their node refreshes them.
 * Its events reach the node through the {@link PresenceHandler} given to the adapter's `init`.
 */

/** One connection present in a channel. A visitor with three tabs has three entries. */
export interface PresenceEntry {
  /** Connection id: unique across every node (random). */
  clientId: string
  /** The visitor (session) id; entries with the same visitor count as one member. */
  visitorId: string
  /** Display name, when the visitor has one. */
  name?: string | undefined
  /**
   * What else a member shows (any JSON value): a Pusher subscriber's `user_info`, from its signed
   * `channel_data`. Kept per visitor as the name is (the latest connection's); a change is a `join` again.
   */
  info?: unknown
}

/** One member of a channel's presence: a visitor, however many connections they have. */
export interface PresenceMember {
  id: string
  name?: string | undefined
  /** The member's info ({@link PresenceEntry.info}), when it has some. */
  info?: unknown
}

/**
 * A change in a channel's presence. `join` is sent when a visitor's first connection arrives and
 * again when their display name changes (treat it as an upsert); `leave` when their last connection
 * goes or expires.
 */
export interface PresenceEvent {
  channel: string
  action: 'join' | 'leave'
  member: PresenceMember
}

/** How presence reaches the node. Calls must be cheap and never throw back into the adapter. */
export interface PresenceHandler {
  /**
   * A presence change on a channel this node subscribes to (presence events ride the broker's
   * channel subscription: the Redis adapter sends them on the channel's pub/sub channel).
   */
  onPresence: (event: PresenceEvent) => void
}

/** Who is in each channel. Every method may be asynchronous. */
export interface Presence {
  /**
   * Add a connection to the channel's presence, or refresh it: the entry expires `ttlMs` after the
   * last call unless removed first. The node refreshes its entries well within the TTL, so entries
   * of a node that died disappear by themselves (with a `leave`).
   */
  presenceAdd: (channel: string, entry: PresenceEntry, ttlMs: number) => Promise<void>
  /** Remove one connection from the channel's presence (unknown ids are ignored). */
  presenceRemove: (channel: string, clientId: string) => Promise<void>
  /** The channel's members, one per visitor, ordered by visitor id. */
  presence: (channel: string) => Promise<PresenceMember[]>
}
