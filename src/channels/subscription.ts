/**
 * One connection's subscription to one channel, and the rule that keeps its stream exact.
 *
 * While a subscribe is in flight (authorisation, adapter subscribe, history read), live
 * publications are buffered here; once the ack and the replay are sent, the buffer is flushed
 * and every later publication is checked against the last offset delivered. That is what makes
 * recovery exact: a publication in both the history read and the live stream is sent once, and
 * nothing is sent out of order.
 */
import type { Connection } from '../node/connection.js'
import type { Publication, StreamPosition } from '../adapters/broker.js'
import type { PresenceEvent } from '../adapters/presence.js'
import type { ChannelPolicy } from './policy.js'

/** Most live publications held for one subscribe in flight; past it the subscribe fails cleanly. */
export const MAX_PENDING_PUBLICATIONS = 10_000

/** A presence member a subscription brings itself (see {@link Subscription.member}). */
export interface SubscriptionMember {
  readonly id: string
  readonly info?: unknown
}

/** A subscription, pending until its ack is sent, live after. */
export class Subscription {
  readonly connection: Connection
  readonly channel: string
  readonly policy: ChannelPolicy
  /** Live: frames go straight out. Pending: they wait in the buffers. */
  live = false
  /** Set when the client unsubscribed or left before the subscribe finished. */
  cancelled = false
  /** Set when more than {@link MAX_PENDING_PUBLICATIONS} arrived while pending. */
  overflowed = false
  /** Whether this connection has a presence entry in the channel. */
  present = false
  /** Epoch and offset of the last publication delivered (or of the ack's position). */
  epoch = ''
  offset = 0
  readonly pendingPublications: Publication[] = []
  readonly pendingPresence: PresenceEvent[] = []
  /** Gaps the broker told of while pending, each after the pending publications that came before it (made on the first: most subscriptions never see one). */
  #pendingGaps: Array<{ after: number, position: StreamPosition }> | null = null
  /**
   * Who this subscription lists in presence when it is not its connection's visitor: a Pusher
   * subscriber's signed `channel_data` (`user_id`, `user_info`). Null: the connection's visitor.
   */
  member: SubscriptionMember | null = null

  constructor (connection: Connection, channel: string, policy: ChannelPolicy) {
    this.connection = connection
    this.channel = channel
    this.policy = policy
  }

  /** Start the stream at a position: everything after it is delivered, nothing at or before it. */
  startAt (epoch: string, offset: number): void {
    this.epoch = epoch
    this.offset = offset
  }

  /**
   * Whether `publication` is next for this subscriber, and if so record it as delivered.
   * An older or repeated offset (already replayed from history) is refused. A new epoch (the
   * stream was reset) is accepted, so the client sees the epoch change in the frame itself.
   */
  accept (publication: Publication): boolean {
    if (publication.epoch === this.epoch && publication.offset <= this.offset) return false
    this.epoch = publication.epoch
    this.offset = publication.offset
    return true
  }

  /**
   * The channel's stream goes on after `position` (publications before it were lost on their way
   * to this node): whether this subscriber is behind it, and so must be told, and if so it moves
   * there. A subscriber already past it (its subscribe read the stream later) is not.
   */
  skipTo (position: StreamPosition): boolean {
    if (position.epoch === this.epoch && position.offset <= this.offset) return false
    this.epoch = position.epoch
    this.offset = position.offset
    return true
  }

  /** Hold a gap while pending, in order with the publications held. */
  holdGap (position: StreamPosition): void {
    (this.#pendingGaps ??= []).push({ after: this.pendingPublications.length, position })
  }

  /**
   * What was held while pending and is next for this subscriber, in arrival order: publications
   * (`pub` frames) and the gaps it is behind (`gap` frames). Empties the holds.
   */
  * takePending (): Generator<{ publication: Publication } | { gap: StreamPosition }> {
    const publications = this.pendingPublications.splice(0)
    const gaps = this.#pendingGaps ?? []
    this.#pendingGaps = null
    let next = 0
    for (let i = 0; i <= publications.length; i++) {
      for (; next < gaps.length && (gaps[next] as { after: number }).after === i; next++) {
        const { position } = gaps[next] as { position: StreamPosition }
        if (this.skipTo(position)) yield { gap: position }
      }
      const publication = publications[i]
      if (publication !== undefined && this.accept(publication)) yield { publication }
    }
  }

  /** Hold a publication while pending. @returns false when the buffer is full */
  buffer (publication: Publication): boolean {
    if (this.pendingPublications.length >= MAX_PENDING_PUBLICATIONS) {
      this.overflowed = true
      return false
    }
    this.pendingPublications.push(publication)
    return true
  }
}
