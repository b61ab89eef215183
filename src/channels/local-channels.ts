/**
 * The channels that have subscribers on this node, and their fan-out. It keeps who subscribes to
 * what (by channel and by connection), subscribes the adapter to a channel when its first local
 * subscriber joins and unsubscribes it when the last one leaves (in call order per channel), and
 * delivers what the adapter hands the node: each publication or presence change is framed ONCE
 * per protocol in use and the same bytes go to every live subscriber of that protocol; a
 * subscription still completing buffers it.
 */
import type { FastifyBaseLogger } from 'fastify'
import type { Broker, Publication } from '../adapters/broker.js'
import type { PresenceEvent } from '../adapters/presence.js'
import type { RealtimeMetrics } from '../metrics/metrics.js'
import type { Connection } from '../node/connection.js'
import { publicationMessage } from '../protocols/ours/server-messages.js'
import { FramesPerProtocol } from '../protocols/frames-per-protocol.js'
import { InFlight } from './in-flight.js'
import type { Subscription } from './subscription.js'

/** What {@link LocalChannels} is made from. */
export interface LocalChannelsOptions {
  adapter: Pick<Broker, 'subscribe' | 'unsubscribe'>
  metrics: RealtimeMetrics
  log: FastifyBaseLogger
}

interface LocalChannel {
  readonly subscribers: Set<Subscription>
  /** Settles once the adapter delivers this channel to the node. */
  readonly ready: Promise<void>
}

/** See the module comment. */
export class LocalChannels {
  readonly #adapter: Pick<Broker, 'subscribe' | 'unsubscribe'>
  readonly #metrics: RealtimeMetrics
  readonly #log: FastifyBaseLogger
  readonly #channels = new Map<string, LocalChannel>()
  readonly #byConnection = new Map<Connection, Map<string, Subscription>>()
  /** The last adapter subscribe/unsubscribe per channel: the next one waits for it, so they apply in order. */
  readonly #adapterOps = new Map<string, Promise<void>>()
  /** Every adapter subscribe/unsubscribe not yet settled, for {@link settled}. */
  readonly #inFlight = new InFlight()

  constructor (options: LocalChannelsOptions) {
    this.#adapter = options.adapter
    this.#metrics = options.metrics
    this.#log = options.log
  }

  /** Channels with at least one subscriber on this node. */
  get size (): number {
    return this.#channels.size
  }

  /** A connection's subscription to a channel (pending or live), if any. */
  get (connection: Connection, channel: string): Subscription | undefined {
    return this.#byConnection.get(connection)?.get(channel)
  }

  /** How many subscriptions a connection holds. */
  countOf (connection: Connection): number {
    return this.#byConnection.get(connection)?.size ?? 0
  }

  /** Subscribers on this node, by channel. */
  counts (): Record<string, number> {
    const counts: Record<string, number> = {}
    for (const [channel, local] of this.#channels) counts[channel] = local.subscribers.size
    return counts
  }

  /** Every subscription on this node (presence refreshes walk them). */
  * all (): IterableIterator<Subscription> {
    for (const subscriptions of this.#byConnection.values()) yield * subscriptions.values()
  }

  /** Record a new (pending) subscription under its connection. */
  add (subscription: Subscription): void {
    let subscriptions = this.#byConnection.get(subscription.connection)
    if (subscriptions === undefined) {
      subscriptions = new Map()
      this.#byConnection.set(subscription.connection, subscriptions)
    }
    subscriptions.set(subscription.channel, subscription)
  }

  /**
   * Make a subscription one of its channel's local subscribers: from now on, publications reach
   * it (buffered while it is not live). The first subscriber subscribes the adapter.
   * @returns settles once the adapter delivers the channel to this node
   */
  async join (subscription: Subscription): Promise<void> {
    const { channel } = subscription
    let local = this.#channels.get(channel)
    if (local === undefined) {
      local = { subscribers: new Set(), ready: this.#adapterOp(channel, async () => { await this.#adapter.subscribe(channel) }) }
      this.#channels.set(channel, local)
    }
    local.subscribers.add(subscription)
    await local.ready
  }

  /** Take a subscription out of every list (it is cancelled); the channel's last one unsubscribes the adapter. */
  remove (subscription: Subscription): void {
    const { connection, channel } = subscription
    subscription.cancelled = true
    subscription.live = false
    const subscriptions = this.#byConnection.get(connection)
    if (subscriptions?.get(channel) === subscription) {
      subscriptions.delete(channel)
      if (subscriptions.size === 0) this.#byConnection.delete(connection)
    }
    const local = this.#channels.get(channel)
    if (local?.subscribers.delete(subscription) === true && local.subscribers.size === 0) {
      this.#channels.delete(channel)
      this.#adapterOp(channel, async () => { await this.#adapter.unsubscribe(channel) }).catch((err: unknown) => {
        this.#metrics.adapterError('unsubscribe')
        this.#log.error({ err, channel }, 'adapter unsubscribe failed')
      })
    }
  }

  /** Every subscription of a connection (to drop them all when it closes). */
  of (connection: Connection): Subscription[] {
    return [...(this.#byConnection.get(connection)?.values() ?? [])]
  }

  /** A publication from the adapter: framed once per protocol, to every live subscriber that has not had it. */
  fanOut (publication: Publication): void {
    const local = this.#channels.get(publication.channel)
    if (local === undefined) return
    let frames: FramesPerProtocol | undefined
    for (const subscription of local.subscribers) {
      if (!subscription.live) {
        subscription.buffer(publication)
        continue
      }
      if (!subscription.accept(publication)) continue
      // The one connection its publisher asked to skip (Pusher's socket_id): its position still moves.
      if (subscription.connection.id === publication.except) continue
      frames ??= new FramesPerProtocol(publicationMessage(publication), publication)
      frames.send(subscription.connection, 'message')
    }
    if (frames?.framed === true) {
      frames.report((frame, sent) => { this.#metrics.frameOut('pub', frame.payloadBytes, sent) })
      this.#metrics.publishLatency(Date.now() - publication.t)
    }
  }

  /** A presence change from the adapter: framed once per protocol, to every live subscriber of a presence channel. */
  deliverPresence (event: PresenceEvent): void {
    const local = this.#channels.get(event.channel)
    if (local === undefined) return
    let frames: FramesPerProtocol | undefined
    for (const subscription of local.subscribers) {
      if (!subscription.policy.presence) continue
      if (!subscription.live) {
        subscription.pendingPresence.push(event)
        continue
      }
      frames ??= new FramesPerProtocol({ type: 'presence', channel: event.channel, action: event.action, member: event.member })
      frames.send(subscription.connection, 'message')
    }
    frames?.report((frame, sent) => { this.#metrics.frameOut('presence', frame.payloadBytes, sent) })
  }

  /** Run adapter subscribe/unsubscribe calls of one channel one after the other, in call order. */
  #adapterOp (channel: string, op: () => Promise<void>): Promise<void> {
    const previous = this.#adapterOps.get(channel) ?? Promise.resolve()
    const next = previous.catch(() => {}).then(op)
    this.#adapterOps.set(channel, next)
    const forget = (): void => { if (this.#adapterOps.get(channel) === next) this.#adapterOps.delete(channel) }
    next.then(forget, forget)
    return this.#inFlight.track(next)
  }

  /** Settles once every adapter subscribe/unsubscribe started so far has (shutdown waits for it before closing the adapter). */
  async settled (): Promise<void> {
    await this.#inFlight.settled()
  }
}
