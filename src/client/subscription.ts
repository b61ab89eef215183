/**
 * One channel subscription on the client. It outlives reconnects: after each one the client
 * subscribes again with the last position this subscription saw (`since`), and the
 * `subscribed` event says whether the server proved the gap recovered (and comes again with
 * `recovered: false` when the server tells of publications lost while subscribed: a `gap` frame).
 */
import { Emitter } from './emitter.js'
import type { RealtimeError } from './errors.js'
import type { AckFrame, ClientRequest, GapFrame, PresenceFrame, PresenceMember, PubFrame, Publication, StreamPosition } from './frames.js'

/**
 * What a `subscribed` event says about one (re)subscribe, or about a gap the server told of while
 * subscribed (`gap: true`, a `gap` frame: publications were lost before they reached the server
 * node, so `recovered` is false; refetch what you need, as after any `recovered: false`).
 */
export interface Subscribed {
  /** True when every publication since the last one seen was replayed (nothing missed). */
  recovered: boolean
  /** True when this was a resubscribe after a reconnect, or a gap (false for the first subscribe). */
  resumed: boolean
  /** True when the server told of a gap on the live subscription (a `gap` frame), not a (re)subscribe. */
  gap: boolean
  /** The stream position the subscription starts after. */
  offset: number
  epoch: string
}

/** What a `presence` event carries. */
export interface PresenceChange {
  /** Everyone present now. */
  members: PresenceMember[]
  action: 'snapshot' | 'join' | 'leave'
  /** Who joined or left (absent for a snapshot). */
  member?: PresenceMember
}

/** Events of a {@link Subscription}; `T` is the type of the channel's data. */
export interface SubscriptionEvents<T> {
  publication: Publication<T>
  subscribed: Subscribed
  presence: PresenceChange
  /** The server refused the subscription (it is then dropped). */
  error: RealtimeError
  /**
   * The server ended the subscription (`unsubscribed` frame); it is dropped. Not when a private
   * channel's grant expired and `token` is a function: the client then subscribes again by itself.
   */
  unsubscribed: { channel: string }
}

/**
 * Who made a subscription: the application (`client.subscribe`), the server on the live socket
 * (`server`: resubscribed by the client after a reconnect), or the server at every connect
 * (`connect`: the server re-adds it, the client never resubscribes it).
 */
export type SubscriptionSource = 'client' | 'server' | 'connect'

/** A channel token, or what fetches one (called for every subscribe, resubscribes included). */
export type TokenSource = string | (() => string | Promise<string>)

/** What a subscription needs from its client. */
export interface SubscriptionOwner {
  /** The application gave the subscription up. */
  release: (subscription: { readonly channel: string }) => void
}

/** See the module comment. `T` is what the application says the channel carries (not checked). */
export class Subscription<T = unknown> extends Emitter<SubscriptionEvents<T>> {
  /** The channel name. */
  readonly channel: string
  /** Members present, by visitor id (presence channels only). */
  members = new Map<string, PresenceMember>()
  /** Who made it (see {@link SubscriptionSource}). */
  source: SubscriptionSource
  /** The channel token of a private channel, sent with each subscribe. */
  readonly token: TokenSource | undefined
  readonly #owner: SubscriptionOwner
  readonly #rewind: number
  /** Epoch of the stream ('' before the first ack). */
  #epoch = ''
  /** Offset of the last publication handed to the application. */
  #last = 0
  /** Offset in the ack of the current subscribe. */
  #acked = 0
  /** Whether the current subscribe promised a complete replay up to #acked. */
  #replaying = false
  /** Offset sent as `since` in the current subscribe. */
  #resumeFrom = 0

  /** @internal Made by {@link RealtimeClient.subscribe}, or by the client for a `subscribed` frame. */
  constructor (owner: SubscriptionOwner, channel: string, rewind: number, source: SubscriptionSource = 'client', token?: TokenSource) {
    super()
    this.#owner = owner
    this.channel = channel
    this.#rewind = rewind
    this.source = source
    this.token = token
  }

  /** Where to resume from after a reconnect, or null before the first ack. */
  get position (): StreamPosition | null {
    if (this.#epoch === '') return null
    const offset = this.#replaying && this.#last < this.#acked ? this.#last : Math.max(this.#acked, this.#last)
    return { epoch: this.#epoch, offset }
  }

  /** Stop receiving this channel. */
  unsubscribe (): void {
    this.#owner.release(this)
  }

  /** @internal The `sub` request for the current state (with the channel token, if any). */
  request (token?: string): ClientRequest {
    const since = this.position
    this.#resumeFrom = since?.offset ?? 0
    const request: ClientRequest = since === null
      ? { type: 'sub', channel: this.channel, rewind: this.#rewind }
      : { type: 'sub', channel: this.channel, since }
    return token === undefined ? request : { ...request, token }
  }

  /** @internal The server acknowledged the current subscribe (an `ack`, or a `subscribed` frame). */
  acked (ack: Pick<AckFrame, 'offset' | 'epoch' | 'recovered'>): void {
    const resumed = this.#epoch !== ''
    const recovered = ack.recovered === true
    const epoch = String(ack.epoch)
    this.#last = recovered ? this.#resumeFrom : 0
    this.#epoch = epoch
    this.#acked = Number(ack.offset)
    this.#replaying = recovered
    this.emit('subscribed', { recovered, resumed, gap: false, offset: this.#acked, epoch })
  }

  /**
   * @internal A `gap` frame of this channel: publications before its position are lost; the
   * stream goes on after it, and a reconnect resumes from there (what follows it is replayed).
   */
  gap (frame: GapFrame): void {
    // A gap the subscription is already past (a replay that crossed it) says nothing new.
    if (frame.epoch === this.#epoch && frame.offset <= Math.max(this.#last, this.#acked)) return
    this.#epoch = String(frame.epoch)
    this.#last = Number(frame.offset)
    this.#acked = this.#last
    this.#replaying = false
    this.emit('subscribed', { recovered: false, resumed: true, gap: true, offset: this.#last, epoch: this.#epoch })
  }

  /** @internal The server ended the subscription. */
  ended (): void {
    this.emit('unsubscribed', { channel: this.channel })
  }

  /** @internal The server refused the subscribe. */
  refused (error: RealtimeError): void {
    this.emit('error', error)
  }

  /** @internal A `pub` frame of this channel. */
  publication (frame: PubFrame): void {
    // The server sends each offset once; this guards against a replay that crosses a reconnect.
    if (frame.epoch === this.#epoch && frame.offset <= this.#last) return
    if (frame.epoch !== this.#epoch) this.#acked = 0
    this.#epoch = frame.epoch
    this.#last = frame.offset
    const { type: _type, ...publication } = frame
    this.emit('publication', publication as Publication<T>)
  }

  /** @internal A `presence` frame of this channel. */
  presence (frame: PresenceFrame): void {
    if (frame.action === 'snapshot') {
      this.members = new Map(frame.members.map((member) => [member.id, member]))
      this.emit('presence', { members: [...this.members.values()], action: 'snapshot' })
      return
    }
    if (frame.action === 'leave') this.members.delete(frame.member.id)
    else this.members.set(frame.member.id, frame.member)
    this.emit('presence', { members: [...this.members.values()], action: frame.action, member: frame.member })
  }
}
