/**
 * Redis key names of one channel. Every key of a channel carries the channel in a hash tag
 * (`{…}`), so a channel's keys share a cluster slot and its Lua scripts stay single-slot.
 *
 * Two layouts differ only in the pub/sub channel. On one Redis (`single`) it is
 * `<prefix>pub:<channel>` (PUBLISH/SUBSCRIBE), unchanged since the first release so that nodes of
 * different versions on one Redis keep hearing each other during a rolling upgrade. On a Redis
 * Cluster (`cluster`) it is the shard channel `<prefix>{<channel>}:pub` (SPUBLISH/SSUBSCRIBE), in
 * the slot of the channel's keys, so the publish script may SPUBLISH to it.
 */

/** Which names a deployment uses: one Redis (also Sentinel), or a Redis Cluster with sharded pub/sub. */
export type KeyLayout = 'single' | 'cluster'

/** The keys and the pub/sub channel of one realtime channel. */
export interface ChannelKeys {
  /** Hash: offset, epoch, ttl (history TTL of the last publish). */
  meta: string
  /** Stream: the history, entry ids `<offset>-1`. */
  history: string
  /** Hash clientId → visitorId. */
  presenceClients: string
  /** Sorted set clientId → expiry (epoch ms). */
  presenceExpiries: string
  /** Hash visitorId → number of connections. */
  presenceCounts: string
  /** Hash visitorId → display name. */
  presenceNames: string
  /** Sorted set nodeId → expiry: the nodes that have subscribers in the channel (occupancy). */
  occupancy: string
  /** Pub/sub channel carrying publications and presence events. */
  pubsub: string
}

/**
 * Key names of `channel` under `prefix`.
 * @param prefix - e.g. `rt:`
 * @param channel - the realtime channel name
 */
export function channelKeys (prefix: string, channel: string, layout: KeyLayout = 'single'): ChannelKeys {
  const base = `${prefix}{${channel}}`
  return {
    meta: `${base}:meta`,
    history: `${base}:hist`,
    presenceClients: `${base}:pc`,
    presenceExpiries: `${base}:px`,
    presenceCounts: `${base}:pn`,
    presenceNames: `${base}:pm`,
    occupancy: `${base}:occ`,
    pubsub: layout === 'cluster' ? `${base}:pub` : `${prefix}pub:${channel}`
  }
}

/** The realtime channel of a pub/sub channel name, or null if it is not ours. */
export function channelOfPubsub (prefix: string, pubsub: string, layout: KeyLayout = 'single'): string | null {
  if (layout === 'cluster') {
    const head = `${prefix}{`
    const tail = '}:pub'
    return pubsub.startsWith(head) && pubsub.endsWith(tail) && pubsub.length > head.length + tail.length ? pubsub.slice(head.length, -tail.length) : null
  }
  const head = `${prefix}pub:`
  return pubsub.startsWith(head) ? pubsub.slice(head.length) : null
}

/**
 * The pub/sub channel every node subscribes to for control messages. On a Cluster the same name is
 * a shard channel (SPUBLISH/SSUBSCRIBE): one slot's master carries it, instead of every plain
 * PUBLISH being broadcast to every node of the cluster over the cluster bus.
 */
export function controlChannel (prefix: string): string {
  return `${prefix}ctl`
}

/** The key of a shared state entry. */
export function stateKey (prefix: string, key: string): string {
  return `${prefix}state:${key}`
}

/** The key remembering one idempotency key of a channel (in the channel's hash slot, so the publish script may touch it). */
export function idempotencyKey (keys: ChannelKeys, key: string): string {
  return `${keys.meta.slice(0, -':meta'.length)}:idem:${key}`
}

/** The sorted set of channels by when a sweep should next look at them (their soonest expiry). */
export function sweepRegistry (prefix: string): string {
  return `${prefix}sweep`
}
