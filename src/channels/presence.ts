/**
 * Presence on one node: which of its connections are listed in which channel, kept alive in the
 * adapter by a refresher well within the TTL (so the entries of a node that dies expire by
 * themselves), and what a subscriber is told about changes that happened while it subscribed.
 */
import type { FastifyBaseLogger } from 'fastify'
import type { Presence, PresenceEntry, PresenceEvent, PresenceMember } from '../adapters/presence.js'
import type { RealtimeMetrics } from '../metrics/metrics.js'
import { InFlight } from './in-flight.js'
import type { Subscription } from './subscription.js'

/** What {@link ChannelPresence} is made from. */
export interface ChannelPresenceOptions {
  adapter: Presence
  ttlMs: number
  metrics: RealtimeMetrics
  log: FastifyBaseLogger
}

/**
 * The presence events that arrived while subscribing and still change the snapshot. Each event
 * sets a member's state, so per member only the last one matters; it is news only when the
 * snapshot (read meanwhile) does not already show that state.
 */
export function presenceNews (snapshot: PresenceMember[], pending: PresenceEvent[]): PresenceEvent[] {
  const last = new Map<string, PresenceEvent>()
  for (const event of pending) last.set(event.member.id, event)
  const shown = new Map(snapshot.map((member) => [member.id, member]))
  return [...last.values()].filter((event) => {
    const current = shown.get(event.member.id)
    return event.action === 'leave' ? current !== undefined : current === undefined || current.name !== event.member.name
  })
}

/**
 * The entry a subscription lists: the member it brought (a Pusher subscriber's), else its
 * connection's visitor; an anonymous connection without one is not listed.
 */
function entryOf (subscription: Subscription): PresenceEntry | null {
  const { connection, member } = subscription
  if (member !== null) return member.info === undefined ? { clientId: connection.id, visitorId: member.id } : { clientId: connection.id, visitorId: member.id, info: member.info }
  const visitor = connection.visitor
  if (visitor === null) return null
  return { clientId: connection.id, visitorId: visitor.id, name: visitor.name }
}

/** See the module comment. */
export class ChannelPresence {
  readonly #adapter: Presence
  readonly #ttlMs: number
  readonly #metrics: RealtimeMetrics
  readonly #log: FastifyBaseLogger
  /** Removals not yet settled, for {@link settled}. */
  readonly #inFlight = new InFlight()
  #refresher: ReturnType<typeof setInterval> | null = null

  constructor (options: ChannelPresenceOptions) {
    this.#adapter = options.adapter
    this.#ttlMs = options.ttlMs
    this.#metrics = options.metrics
    this.#log = options.log
  }

  /**
   * List a subscription's connection in its channel (when it has a visitor); the subscription
   * is then `present` until {@link remove}.
   */
  async add (subscription: Subscription): Promise<void> {
    const entry = entryOf(subscription)
    if (entry === null) return
    await this.#adapter.presenceAdd(subscription.channel, entry, this.#ttlMs)
    subscription.present = true
  }

  /** Take a subscription's connection off its channel's list (in the background; failures are logged). */
  remove (subscription: Subscription): void {
    subscription.present = false
    this.#inFlight.track(this.#adapter.presenceRemove(subscription.channel, subscription.connection.id)).catch((err: unknown) => {
      this.#metrics.adapterError('presence')
      this.#log.error({ err, channel: subscription.channel }, 'presence remove failed')
    })
  }

  /** Settles once every removal started so far has (shutdown waits for it before closing the adapter). */
  async settled (): Promise<void> {
    await this.#inFlight.settled()
  }

  /** Who is in a channel now. */
  async members (channel: string): Promise<PresenceMember[]> {
    return await this.#adapter.presence(channel)
  }

  /**
   * Refresh the entries of `subscriptions()` every third of the TTL, so a slow turn never lets a
   * live entry expire. The timer is unref'd: it never keeps the process up.
   */
  startRefreshing (subscriptions: () => Iterable<Subscription>): void {
    this.#refresher = setInterval(() => { this.#refresh(subscriptions()) }, Math.floor(this.#ttlMs / 3))
    this.#refresher.unref()
  }

  /** Stop refreshing. */
  stop (): void {
    if (this.#refresher !== null) clearInterval(this.#refresher)
    this.#refresher = null
  }

  #refresh (subscriptions: Iterable<Subscription>): void {
    for (const subscription of subscriptions) {
      if (!subscription.present) continue
      const entry = entryOf(subscription)
      if (entry === null) continue
      this.#adapter.presenceAdd(subscription.channel, entry, this.#ttlMs).catch((err: unknown) => {
        this.#metrics.adapterError('presence')
        this.#log.warn({ err, channel: subscription.channel }, 'presence refresh failed')
      })
    }
  }
}
