/**
 * Which sharded subscriptions a Redis Cluster lost and re-made. ioredis (`shardedSubscribers`)
 * re-sends a shard's SSUBSCRIBEs by itself after a failover or a slot migration, but tells the
 * application only `-node` (a master's subscriber connection ended, with its node key) and
 * `subscribersReady` (the subscriber group was rebuilt for a new slot map), never which channels
 * were cut off meanwhile; publishing may come back before the subscription does. This remembers
 * which master served each subscribed channel, and names the channels to recover: those whose
 * master's subscriber ended, and those whose slot now belongs to another master (a failover, or a
 * migration, which Redis announces with an unsolicited `sunsubscribe` that makes ioredis refresh).
 */
import type { Cluster } from 'ioredis'
import { keySlot } from './slot.js'

/** What the watch asks of the adapter. */
export interface ShardWatchHandler {
  /** A master's subscriber connection ended: hold these channels' live messages until they are recovered. */
  hold: (channels: string[]) => void
  /** These channels' subscription was cut off or moved: make sure it is active again, then recover them. */
  recover: (channels: string[], reason: string) => void
}

interface Watched {
  slot: number
  /** The master that served the subscription when it was last made; undefined: to be recovered. */
  owner: string | undefined
}

/** Follows the shard of every subscribed channel on one subscriber Cluster connection. */
export class ShardWatch {
  readonly #sub: Cluster
  readonly #handler: ShardWatchHandler
  readonly #channels = new Map<string, Watched>()
  /** Masters whose subscriber connection ended since the last check. */
  readonly #lost = new Set<string>()
  /** Subscriber connections lost and subscriber groups rebuilt, since start: for the report. */
  resubscribes = 0

  constructor (sub: Cluster, handler: ShardWatchHandler) {
    this.#sub = sub
    this.#handler = handler
    // ioredis emits `-node` with a node key only for a sharded subscriber's connection that ended.
    sub.on('-node', (_redis: unknown, nodeKey?: unknown) => { if (typeof nodeKey === 'string') this.#onLost(nodeKey) })
    sub.on('subscribersReady', () => { this.check('shard resubscribed') })
  }

  /** Start following `channel`, whose shard channel is `pubsub`, subscribed just now. */
  track (channel: string, pubsub: string): void {
    const slot = keySlot(pubsub)
    this.#channels.set(channel, { slot, owner: this.#ownerOf(slot) })
  }

  /** Stop following `channel`. */
  untrack (channel: string): void {
    this.#channels.delete(channel)
  }

  /** `channel`'s subscription could not be re-made: recover it again at the next change. */
  retry (channel: string): void {
    const watched = this.#channels.get(channel)
    if (watched !== undefined) watched.owner = undefined
  }

  /**
   * Compare each channel's master with the one that served it, and recover those whose master
   * changed or lost its subscriber connection (or whose last recovery failed).
   */
  check (reason: string): void {
    const moved: string[] = []
    for (const [channel, watched] of this.#channels) {
      const owner = this.#ownerOf(watched.slot)
      if (watched.owner === undefined || watched.owner !== owner || this.#lost.has(watched.owner)) {
        watched.owner = owner
        moved.push(channel)
      }
    }
    this.#lost.clear()
    if (moved.length === 0) return
    this.resubscribes++
    this.#handler.recover(moved, reason)
  }

  #onLost (nodeKey: string): void {
    this.#lost.add(nodeKey)
    const cut = [...this.#channels].filter(([, watched]) => watched.owner === nodeKey).map(([channel]) => channel)
    if (cut.length > 0) this.#handler.hold(cut)
  }

  #ownerOf (slot: number): string | undefined {
    return this.#sub.slots[slot]?.[0]
  }
}
