/**
 * Channels on one node, put together: the client requests (requests.ts), the local subscribers
 * and their fan-out (local-channels.ts), presence (presence.ts), and the server's own API
 * (`fastify.realtime.publish`, `presence`).
 *
 * The node talks to the adapter through the contract only, and the adapter answers through the
 * handler given to `init`: publications and presence events of the channels this node subscribes to.
 */
import type { FastifyBaseLogger, FastifyRequest } from 'fastify'
import type { RealtimeAdapter } from '../adapters/adapter.js'
import type { Publication, PublishOptions, RecentResult, SinceResult, StreamPosition } from '../adapters/broker.js'
import type { PresenceMember } from '../adapters/presence.js'
import type { LifecycleEvent } from '../adapters/state.js'
import type { TokenVerifier } from '../auth/tokens.js'
import { IdempotencyKeyReusedError, UnknownChannelError } from '../errors.js'
import type { RealtimeMetrics } from '../metrics/metrics.js'
import type { Connection } from '../node/connection.js'
import type { ControlRouter } from '../cluster/router.js'
import type { RealtimeNode } from '../node/realtime-node.js'
import type { SubscriptionSource } from '../protocols/ours/server-messages.js'
import { LocalChannels } from './local-channels.js'
import { isChannelName, type ChannelPolicy, type ChannelRegistry } from './policy.js'
import { ChannelPresence } from './presence.js'
import { ChannelRequests, historyOf, type SubscribeExtras } from './requests.js'
import type { SubscribeRequest } from '../protocols/ours/client-messages.js'
import type { SubscriptionMember } from './subscription.js'
import type { ChannelListEntry } from '../protocols/ours/channel-list.js'

/** What a {@link ChannelService} is made from. */
export interface ChannelServiceOptions {
  registry: ChannelRegistry
  adapter: RealtimeAdapter
  maxSubscriptionsPerConnection: number
  /** Most publications one recovery replays (the `maxRecoveryReplay` option). */
  maxRecoveryReplay: number
  presenceTtlMs: number
  /** How long an idempotency key is remembered (the API's publishes, clients' `pub` keys), in ms. */
  idempotencyTtlMs: number
  metrics: RealtimeMetrics
  log: FastifyBaseLogger
  /** Verifies channel tokens (null: no token key; private channels are then refused at registration). */
  grants?: TokenVerifier | null
  /** Where control messages from other nodes go. */
  control?: ControlRouter
  /** Where lifecycle events this node is told of go (webhooks). */
  onLifecycle?: (event: LifecycleEvent) => void
}

/** What a publication carries besides its data: its event name, the connection it skips, its sender's user id. */
export type PublicationOptions = Pick<PublishOptions, 'event' | 'except' | 'userId'>

/** What to read of a channel's history. */
export interface HistoryQuery {
  /** After this position (recovery, as a client's `since`); absent: the newest publications. */
  since?: StreamPosition
  /** Without `since`: how many of the newest, at most. */
  limit: number
}

/** See the module comment. */
export class ChannelService {
  readonly #registry: ChannelRegistry
  readonly #adapter: RealtimeAdapter
  readonly #metrics: RealtimeMetrics
  readonly #log: FastifyBaseLogger
  readonly #channels: LocalChannels
  readonly #presence: ChannelPresence
  readonly #maxSubscriptions: number
  readonly #idempotencyTtlMs: number
  readonly #presenceTtlMs: number
  readonly #maxRecoveryReplay: number
  /** Upgrade requests, kept for the hooks only when a canSubscribe hook may read them. */
  readonly #requests = new WeakMap<Connection, FastifyRequest>()
  readonly #retainRequests: boolean
  readonly #grants: TokenVerifier | null
  #clientRequests: ChannelRequests | null = null
  readonly #control: ControlRouter | undefined
  readonly #onLifecycle: ((event: LifecycleEvent) => void) | undefined

  constructor (options: ChannelServiceOptions) {
    this.#registry = options.registry
    this.#adapter = options.adapter
    this.#metrics = options.metrics
    this.#log = options.log
    this.#maxSubscriptions = options.maxSubscriptionsPerConnection
    this.#idempotencyTtlMs = options.idempotencyTtlMs
    this.#presenceTtlMs = options.presenceTtlMs
    this.#maxRecoveryReplay = options.maxRecoveryReplay
    this.#retainRequests = options.registry.hasSubscribeHooks
    this.#grants = options.grants ?? null
    this.#control = options.control
    this.#onLifecycle = options.onLifecycle
    this.#channels = new LocalChannels({ adapter: options.adapter, metrics: options.metrics, log: options.log })
    this.#presence = new ChannelPresence({ adapter: options.adapter, ttlMs: options.presenceTtlMs, metrics: options.metrics, log: options.log })
  }

  /** The adapter in use. */
  get adapter (): RealtimeAdapter {
    return this.#adapter
  }

  /** Channels with at least one subscriber on this node. */
  get activeChannels (): number {
    return this.#channels.size
  }

  /** Install the `sub`, `unsub` and `pub` handlers on the node and follow its connection closes. */
  attach (node: RealtimeNode): void {
    const requests = new ChannelRequests({
      registry: this.#registry,
      adapter: this.#adapter,
      channels: this.#channels,
      presence: this.#presence,
      maxSubscriptionsPerConnection: this.#maxSubscriptions,
      idempotencyTtlMs: this.#idempotencyTtlMs,
      maxRecoveryReplay: this.#maxRecoveryReplay,
      metrics: this.#metrics,
      send: (connection, message, position, kind) => node.sendTo(connection, message, position, kind),
      requestOf: (connection) => this.#requests.get(connection),
      grants: this.#grants
    })
    this.#clientRequests = requests
    node.on('sub', (connection, message) => { requests.subscribe(connection, message).catch(() => {}) })
    node.on('unsub', (connection, message) => { requests.unsubscribe(connection, message) })
    node.on('pub', (connection, message) => { requests.publish(connection, message) })
    node.onConnectionClose((connection) => { requests.dropConnection(connection) })
  }

  /**
   * Subscribe a connection to channels on its behalf (a resumed connection, an event stream's
   * `channels`): one after the other, so a client coming back with many channels gets its replays
   * one at a time, each answered as a `sub` without an id (an `ack`, its replay, or an `error`).
   * An entry with `since` recovers from there; one without subscribes afresh, with `rewind`.
   * @returns settles once every entry is answered, or the connection ended
   */
  async restore (connection: Connection, entries: readonly ChannelListEntry[], rewind = 0): Promise<void> {
    const requests = this.#clientRequests
    if (requests === null) throw new Error('ChannelService.restore before attach()')
    for (const { channel, since } of entries) {
      if (connection.closed) return
      // Already there: the server subscribed it at connect (subscribeAtConnect), or the client did.
      if (this.#channels.get(connection, channel) !== undefined) continue
      await requests.subscribe(connection, since === undefined
        ? (rewind > 0 ? { type: 'sub', channel, rewind } : { type: 'sub', channel })
        : { type: 'sub', channel, since: { epoch: since.epoch, offset: since.offset } })
    }
  }

  /** The channels a connection is subscribing to and has not been answered for yet. */
  pendingChannels (connection: Connection): string[] {
    return this.#channels.of(connection).filter((subscription) => !subscription.live).map((subscription) => subscription.channel)
  }

  /** Connect the adapter and start refreshing this node's presence entries. */
  async start (): Promise<void> {
    await this.#adapter.init({
      onPublication: (publication) => { this.#channels.fanOut(publication) },
      onPresence: (event) => { this.#channels.deliverPresence(event) },
      onError: (err, operation) => {
        this.#metrics.adapterError(operation)
        this.#log.error({ err, operation, adapter: this.#adapter.name }, 'realtime adapter error')
      },
      onRestored: (what) => { this.#log.info({ adapter: this.#adapter.name, restored: what }, 'realtime adapter restored') },
      onGap: (channel, position, cause) => {
        this.#metrics.streamGap(cause)
        this.#log.warn({ adapter: this.#adapter.name, channel, cause, epoch: position.epoch, offset: position.offset }, 'publications lost before they reached this node; subscribers told recovered: false')
        this.#channels.gap(channel, position)
      },
      onGapRecovered: (channel, publications) => {
        this.#metrics.streamGap('recovered')
        this.#log.debug({ adapter: this.#adapter.name, channel, publications }, 'gap recovered from the history')
      },
      onPositionCheck: (channels, behind) => { this.#metrics.positionCheck(channels, behind) },
      onResubscribe: (channels, cause) => { this.#metrics.resubscribe(cause, channels) },
      onControl: (message) => { this.#control?.dispatch(message) },
      onLifecycle: (event) => { this.#onLifecycle?.(event) }
    }, { presenceTtlMs: this.#presenceTtlMs })
    this.#control?.connect(this.#adapter)
    this.#presence.startRefreshing(() => this.#channels.all())
  }

  /** Remember the upgrade request of a connection, for the channel hooks (`request.session`). */
  bindRequest (connection: Connection, request: FastifyRequest): void {
    // Only canSubscribe hooks need it later; holding it otherwise would keep ~5 KB per socket alive.
    if (this.#retainRequests) this.#requests.set(connection, request)
  }

  /**
   * Publish from the server (`fastify.realtime.publish`), whatever the channel's clientPublish.
   * @returns the publication with its offset and epoch
   * @throws UnknownChannelError when no declaration matches the channel
   */
  async publish (channel: string, data: unknown, extras: PublicationOptions = {}): Promise<Publication> {
    const policy = this.#declared(channel)
    try {
      return await this.#adapter.publish(channel, data, { ...historyOf(policy), ...extras })
    } catch (err) {
      this.#metrics.adapterError('publish')
      throw err
    }
  }

  /**
   * The stream's current position: what a server-side subscription made now starts after.
   * @throws UnknownChannelError when no declaration matches the channel
   */
  async position (channel: string): Promise<StreamPosition> {
    this.#declared(channel)
    return (await this.#adapter.recent(channel, 0)).position
  }

  /**
   * Subscribe a connection of this node from the server (see ChannelRequests.subscribeFromServer).
   * @returns whether a subscribe started
   */
  subscribeFromServer (connection: Connection, channel: string, source: SubscriptionSource, since?: StreamPosition): boolean {
    return this.#clientRequests?.subscribeFromServer(connection, channel, source, since) ?? false
  }

  /**
   * A client's subscribe made from another protocol's request (a Pusher `pusher:subscribe`):
   * answered as a `sub` is, with what that protocol adds (its own auth, a presence member).
   * @returns settles once it is answered
   */
  async subscribeClient (connection: Connection, request: SubscribeRequest, extras: SubscribeExtras): Promise<void> {
    const requests = this.#clientRequests
    if (requests === null) throw new Error('ChannelService.subscribeClient before attach()')
    await requests.subscribe(connection, request, extras)
  }

  /** End a connection's subscription quietly (a Pusher `pusher:unsubscribe`: no answer). @returns whether it had one */
  leave (connection: Connection, channel: string): boolean {
    const subscription = this.#channels.get(connection, channel)
    if (subscription === undefined) return false
    this.#clientRequests?.drop(subscription)
    return true
  }

  /**
   * A connection's live subscription to a channel (answered, receiving), with the presence member
   * it brought (null: none of its own).
   * @returns undefined when it has none, or it is still being set up
   */
  liveSubscription (connection: Connection, channel: string): { member: SubscriptionMember | null } | undefined {
    const subscription = this.#channels.get(connection, channel)
    return subscription?.live === true ? subscription : undefined
  }

  /** End a connection's subscription from the server. @returns whether it had one */
  unsubscribeFromServer (connection: Connection, channel: string): boolean {
    return this.#clientRequests?.unsubscribeFromServer(connection, channel) ?? false
  }

  /**
   * Who is in a channel (one entry per visitor).
   * @throws UnknownChannelError when no declaration matches the channel
   */
  async presence (channel: string): Promise<PresenceMember[]> {
    this.#declared(channel)
    return await this.#presence.members(channel)
  }

  /**
   * Publish with an idempotency key (the HTTP API's retries): while the key is remembered, a
   * repeat publishes nothing and answers the first publication's position (`duplicate: true`).
   * @throws UnknownChannelError when no declaration matches the channel
   * @throws IdempotencyKeyReusedError when the key was used for another publication (other data)
   */
  async publishOnce (channel: string, data: unknown, idempotencyKey: string, extras: PublicationOptions = {}): Promise<Publication> {
    const policy = this.#declared(channel)
    try {
      return await this.#adapter.publish(channel, data, { ...historyOf(policy), ...extras, idempotencyKey, idempotencyTtlMs: this.#idempotencyTtlMs })
    } catch (err) {
      // A key reused for another publication is the caller's mistake (a 409), not the adapter failing.
      if (!(err instanceof IdempotencyKeyReusedError)) this.#metrics.adapterError('publish')
      throw err
    }
  }

  /**
   * A channel's history: what followed a position (with whether that is all of it), or the newest.
   * @throws UnknownChannelError when no declaration matches the channel
   */
  async history (channel: string, query: HistoryQuery): Promise<SinceResult | RecentResult> {
    const policy = this.#declared(channel)
    if (query.since !== undefined) return await this.#adapter.since(channel, query.since)
    return await this.#adapter.recent(channel, Math.min(query.limit, policy.historySize))
  }

  /** Whether a channel name is declared (matches a declaration). */
  isDeclared (channel: string): boolean {
    return isChannelName(channel) && this.#registry.match(channel) !== undefined
  }

  /** Subscribers on this node, by channel. */
  localCounts (): Record<string, number> {
    return this.#channels.counts()
  }

  /**
   * Stop the presence refresher and close the adapter, once the unsubscribes and presence
   * removals that the drain's closing connections started in the background have settled.
   */
  async close (): Promise<void> {
    this.#presence.stop()
    this.#clientRequests?.stop()
    await Promise.all([this.#channels.settled(), this.#presence.settled()])
    await this.#adapter.close()
  }

  #declared (channel: string): ChannelPolicy {
    const policy = isChannelName(channel) ? this.#registry.match(channel) : undefined
    if (policy === undefined) throw new UnknownChannelError(channel)
    return policy
  }
}
