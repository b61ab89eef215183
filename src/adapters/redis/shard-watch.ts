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
  /** These channels' subscription was cut off or moved: make sure it is active again, then recover them; settles when done. */
  recover: (channels: string[], reason: string) => Promise<void>
}

/** How long a channel whose SSUBSCRIBE failed waits, at most, before it is tried again. */
const RETRY_MS = 1000

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
  /**
   * Channels being recovered now, and those flagged again meanwhile. While a master is down,
   * ioredis retries its subscriber every few hundred ms (each retry ends: `-node`, then
   * `subscribersReady`); one recovery in flight per channel, and one more after it if needed,
   * keeps that from piling up a recovery per retry.
   */
  readonly #inFlight = new Set<string>()
  readonly #again = new Set<string>()
  #retryTimer: ReturnType<typeof setTimeout> | null = null
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

  /**
   * `channel`'s subscription could not be re-made (its master is still down): it stays held, and
   * is recovered at the next change of the subscriber group, or at the latest after `RETRY_MS`.
   */
  retry (channel: string): void {
    const watched = this.#channels.get(channel)
    if (watched === undefined) return
    watched.owner = undefined
    if (this.#retryTimer !== null) return
    this.#retryTimer = setTimeout(() => { this.#retryTimer = null; this.check('shard resubscribe retried') }, RETRY_MS)
    this.#retryTimer.unref()
  }

  /** Stop the retry timer (the adapter closes). */
  stop (): void {
    if (this.#retryTimer !== null) clearTimeout(this.#retryTimer)
    this.#retryTimer = null
    this.#channels.clear()
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
    // Hold at once, in the same tick as ioredis's own re-sent SSUBSCRIBEs (it emits
    // `subscribersReady` right after sending them): nothing live is delivered past the gap.
    this.#handler.hold(moved)
    this.#start(moved, reason)
  }

  #start (channels: string[], reason: string): void {
    const now = channels.filter((channel) => !this.#inFlight.has(channel))
    for (const channel of channels) if (this.#inFlight.has(channel)) this.#again.add(channel)
    if (now.length === 0) return
    this.resubscribes++
    for (const channel of now) this.#inFlight.add(channel)
    // recover never rejects (the adapter reports its own failures); finally only frees the channels.
    this.#handler.recover(now, reason).finally(() => {
      for (const channel of now) this.#inFlight.delete(channel)
      const again = now.filter((channel) => this.#again.delete(channel) && this.#channels.has(channel))
      if (again.length > 0) this.#start(again, reason)
    }).catch(() => {})
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
