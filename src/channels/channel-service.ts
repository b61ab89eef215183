/**
 * Channels on one node: the `sub` / `unsub` / `pub` handlers, the local subscriber lists and their
 * fan-out, recovery on subscribe, presence, and the server-side publish API.
 *
 * The node talks to the adapter through the contract only, and the adapter answers through the
 * handler given to `init`: publications and presence events of channels this node subscribes to.
 * The node subscribes the adapter to a channel when its first local subscriber arrives and
 * unsubscribes when the last one leaves.
 */
import type { FastifyBaseLogger, FastifyRequest } from 'fastify'
import type { Connection } from '../node/connection.js'
import type { PresenceEntry, PresenceEvent, PresenceMember, Publication, PublishOptions, RealtimeAdapter, StreamPosition } from '../adapters/adapter.js'
import type { PublishRequest, SubscribeRequest, UnsubscribeRequest } from '../wire/client-messages.js'
import { ClientErrorCode, UnknownChannelError, type ClientErrorCodeValue } from '../errors.js'
import type { RealtimeMetrics } from '../metrics/metrics.js'
import { encode, type AckMessage, type ErrorMessage, type PubMessage, type ServerMessage } from '../wire/server-messages.js'
import type { RealtimeNode } from '../node/realtime-node.js'
import { isChannelName, type ChannelContext, type ChannelPolicy, type ChannelRegistry } from './policy.js'
import { sendFrame } from './send.js'
import { Subscription } from './subscription.js'

/** What a {@link ChannelService} is made from. */
export interface ChannelServiceOptions {
  registry: ChannelRegistry
  adapter: RealtimeAdapter
  maxSubscriptionsPerConnection: number
  presenceTtlMs: number
  metrics: RealtimeMetrics
  log: FastifyBaseLogger
}

interface LocalChannel {
  readonly subscribers: Set<Subscription>
  /** Settles once the adapter delivers this channel to the node. */
  readonly ready: Promise<void>
}

type RequestId = string | number | undefined

function pubFrame (publication: Publication): PubMessage {
  return { type: 'pub', channel: publication.channel, offset: publication.offset, epoch: publication.epoch, data: publication.data, t: publication.t }
}

/**
 * The presence events that arrived while subscribing and still change the snapshot. Each event
 * sets a member's state, so per member only the last one matters; it is news only when the
 * snapshot (read meanwhile) does not already show that state.
 */
function presenceNews (snapshot: PresenceMember[], pending: PresenceEvent[]): PresenceEvent[] {
  const last = new Map<string, PresenceEvent>()
  for (const event of pending) last.set(event.member.id, event)
  const shown = new Map(snapshot.map((member) => [member.id, member]))
  return [...last.values()].filter((event) => {
    const current = shown.get(event.member.id)
    return event.action === 'leave' ? current !== undefined : current === undefined || current.name !== event.member.name
  })
}

function historyOf (policy: ChannelPolicy): PublishOptions {
  return { historySize: policy.historySize, historyTtlMs: policy.historyTtlMs }
}

/** See the module comment. */
export class ChannelService {
  readonly #registry: ChannelRegistry
  /** Whether upgrade requests are kept for the hooks (only when a canSubscribe hook may read them). */
  readonly #retainRequests: boolean
  readonly #adapter: RealtimeAdapter
  readonly #maxSubscriptions: number
  readonly #presenceTtlMs: number
  readonly #metrics: RealtimeMetrics
  readonly #log: FastifyBaseLogger
  readonly #channels = new Map<string, LocalChannel>()
  readonly #byConnection = new Map<Connection, Map<string, Subscription>>()
  readonly #requests = new WeakMap<Connection, FastifyRequest>()
  /** The last adapter subscribe/unsubscribe per channel: the next one waits for it, so they apply in order. */
  readonly #adapterOps = new Map<string, Promise<void>>()
  #refresher: ReturnType<typeof setInterval> | null = null

  constructor (options: ChannelServiceOptions) {
    this.#registry = options.registry
    this.#retainRequests = options.registry.hasSubscribeHooks
    this.#adapter = options.adapter
    this.#maxSubscriptions = options.maxSubscriptionsPerConnection
    this.#presenceTtlMs = options.presenceTtlMs
    this.#metrics = options.metrics
    this.#log = options.log
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
    node.handle('sub', (connection, message) => this.#onSubscribe(connection, message))
    node.handle('unsub', (connection, message) => this.#onUnsubscribe(connection, message))
    node.handle('pub', (connection, message) => this.#onPublish(connection, message))
    node.onConnectionClose((connection) => this.#dropConnection(connection))
  }

  /** Connect the adapter and start refreshing this node's presence entries. */
  async start (): Promise<void> {
    await this.#adapter.init({
      onPublication: (publication) => this.#deliver(publication),
      onPresence: (event) => this.#deliverPresence(event),
      onError: (err, operation) => {
        this.#metrics.adapterError(operation)
        this.#log.error({ err, operation, adapter: this.#adapter.name }, 'realtime adapter error')
      },
      onRestored: (what) => { this.#log.info({ adapter: this.#adapter.name, restored: what }, 'realtime adapter restored') }
    })
    // Well within the TTL, so a slow tick never lets a live entry expire. Unref'd: never keeps the process up.
    this.#refresher = setInterval(() => this.#refreshPresence(), Math.floor(this.#presenceTtlMs / 3))
    this.#refresher.unref()
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
  async publish (channel: string, data: unknown): Promise<Publication> {
    const policy = isChannelName(channel) ? this.#registry.match(channel) : undefined
    if (policy === undefined) throw new UnknownChannelError(channel)
    try {
      return await this.#adapter.publish(channel, data, historyOf(policy))
    } catch (err) {
      this.#metrics.adapterError('publish')
      throw err
    }
  }

  /**
   * Who is in a channel (one entry per visitor).
   * @throws UnknownChannelError when no declaration matches the channel
   */
  async presence (channel: string): Promise<PresenceMember[]> {
    if (!isChannelName(channel) || this.#registry.match(channel) === undefined) throw new UnknownChannelError(channel)
    return await this.#adapter.presence(channel)
  }

  /** Stop the presence refresher and close the adapter. */
  async close (): Promise<void> {
    if (this.#refresher !== null) clearInterval(this.#refresher)
    this.#refresher = null
    await this.#adapter.close()
  }

  // ---- client requests ----

  #onSubscribe (connection: Connection, message: SubscribeRequest): void {
    const { channel, id } = message
    const policy = this.#registry.match(channel)
    if (policy === undefined) {
      this.#error(connection, id, ClientErrorCode.UNKNOWN_CHANNEL, `No channel "${channel}" is declared on this server.`)
      return
    }
    let subscriptions = this.#byConnection.get(connection)
    if (subscriptions?.has(channel) === true) {
      this.#error(connection, id, ClientErrorCode.ALREADY_SUBSCRIBED, `Already subscribed to "${channel}".`)
      return
    }
    if ((subscriptions?.size ?? 0) >= this.#maxSubscriptions) {
      this.#error(connection, id, ClientErrorCode.TOO_MANY_SUBSCRIPTIONS, `At most ${this.#maxSubscriptions} subscriptions per connection; unsubscribe from one first.`)
      return
    }
    if (subscriptions === undefined) {
      subscriptions = new Map()
      this.#byConnection.set(connection, subscriptions)
    }
    const subscription = new Subscription(connection, channel, policy)
    subscriptions.set(channel, subscription)
    this.#completeSubscribe(subscription, message).catch((err: unknown) => {
      if (subscription.cancelled) return
      connection.log.error({ err, channel }, 'subscribe failed')
      this.#metrics.adapterError('subscribe')
      this.#remove(subscription)
      this.#error(connection, id, ClientErrorCode.SUBSCRIBE_FAILED, `Could not subscribe to "${channel}" right now; try again.`)
    })
  }

  async #completeSubscribe (subscription: Subscription, message: SubscribeRequest): Promise<void> {
    const { connection, channel, policy } = subscription
    let allowed = false
    try {
      allowed = await policy.canSubscribe(this.#context(connection, channel))
    } catch (err) {
      connection.log.warn({ err, channel }, 'canSubscribe threw; subscription refused')
    }
    if (this.#abandoned(subscription, message.id)) return
    if (allowed !== true) {
      this.#remove(subscription)
      this.#error(connection, message.id, ClientErrorCode.FORBIDDEN, `You may not subscribe to "${channel}".`)
      return
    }
    // From here live publications are buffered in the subscription until the replay is sent.
    await this.#join(subscription).ready
    if (this.#abandoned(subscription, message.id)) return
    let position: StreamPosition
    let recovered = false
    let replay: Publication[]
    if (message.since !== undefined) {
      const result = await this.#adapter.since(channel, message.since)
      ;({ position, recovered } = result)
      replay = result.publications
    } else {
      ({ position, publications: replay } = await this.#adapter.recent(channel, Math.min(message.rewind ?? 0, policy.historySize)))
    }
    if (this.#abandoned(subscription, message.id)) return
    let members: PresenceMember[] | null = null
    if (policy.presence) {
      const entry = this.#presenceEntry(connection)
      if (entry !== null) {
        await this.#adapter.presenceAdd(channel, entry, this.#presenceTtlMs)
        subscription.present = true
      }
      members = await this.#adapter.presence(channel)
      if (this.#abandoned(subscription, message.id)) return
    }
    if (subscription.overflowed) throw new Error(`more than the pending limit of publications arrived while subscribing to ${channel}`)
    // No await from here on: the ack, the replay, the buffered frames and the switch to live are one step.
    subscription.startAt(position.epoch, position.offset)
    const ack: AckMessage = { type: 'ack', channel, recovered, offset: position.offset, epoch: position.epoch }
    if (message.id !== undefined) ack.id = message.id
    this.#send(connection, ack)
    for (const publication of replay) this.#send(connection, pubFrame(publication))
    for (const publication of subscription.pendingPublications) {
      if (subscription.accept(publication)) this.#send(connection, pubFrame(publication))
    }
    subscription.pendingPublications.length = 0
    if (members !== null) {
      this.#send(connection, { type: 'presence', channel, action: 'snapshot', members })
      for (const event of presenceNews(members, subscription.pendingPresence)) this.#send(connection, { type: 'presence', channel, action: event.action, member: event.member })
    }
    subscription.pendingPresence.length = 0
    subscription.live = true
    connection.log.debug({ channel, recovered, offset: position.offset, replayed: replay.length }, 'subscribed')
  }

  /** True when the subscription was cancelled meanwhile (its presence entry, if just made, is removed). */
  #abandoned (subscription: Subscription, id: RequestId): boolean {
    if (!subscription.cancelled) return false
    if (subscription.present) this.#removePresence(subscription)
    if (!subscription.connection.closed) this.#error(subscription.connection, id, ClientErrorCode.CANCELLED, `The subscription to "${subscription.channel}" was cancelled before it completed.`)
    return true
  }

  #onUnsubscribe (connection: Connection, message: UnsubscribeRequest): void {
    const subscription = this.#byConnection.get(connection)?.get(message.channel)
    if (subscription === undefined) {
      this.#error(connection, message.id, ClientErrorCode.NOT_SUBSCRIBED, `Not subscribed to "${message.channel}".`)
      return
    }
    this.#remove(subscription)
    if (message.id !== undefined) this.#send(connection, { type: 'ack', id: message.id, channel: message.channel })
  }

  #onPublish (connection: Connection, message: PublishRequest): void {
    const { channel, id } = message
    const policy = this.#registry.match(channel)
    if (policy === undefined) {
      this.#error(connection, id, ClientErrorCode.UNKNOWN_CHANNEL, `No channel "${channel}" is declared on this server.`)
      return
    }
    if (!policy.clientPublish) {
      this.#error(connection, id, ClientErrorCode.PUBLISH_FORBIDDEN, `Clients may not publish to "${channel}".`)
      return
    }
    this.#clientPublish(connection, policy, message).catch((err: unknown) => {
      connection.log.error({ err, channel }, 'publish failed')
      this.#metrics.adapterError('publish')
      this.#error(connection, id, ClientErrorCode.PUBLISH_FAILED, `Could not publish to "${channel}" right now; try again.`)
    })
  }

  async #clientPublish (connection: Connection, policy: ChannelPolicy, message: PublishRequest): Promise<void> {
    const { channel, id } = message
    let data = message.data
    if (policy.onClientPublish !== undefined) {
      try {
        data = await policy.onClientPublish(this.#context(connection, channel), data)
      } catch (err) {
        connection.log.warn({ err, channel }, 'onClientPublish threw; publication refused')
        data = undefined
      }
      if (data === undefined) {
        this.#error(connection, id, ClientErrorCode.PUBLISH_REJECTED, `The server refused this publication to "${channel}".`)
        return
      }
    }
    const publication = await this.#adapter.publish(channel, data, historyOf(policy))
    if (id !== undefined) this.#send(connection, { type: 'ack', id, channel, offset: publication.offset, epoch: publication.epoch })
  }

  // ---- fan-out from the adapter ----

  #deliver (publication: Publication): void {
    const local = this.#channels.get(publication.channel)
    if (local === undefined) return
    let frame: string | undefined
    let sent = 0
    for (const subscription of local.subscribers) {
      if (!subscription.live) {
        subscription.buffer(publication)
        continue
      }
      if (!subscription.accept(publication)) continue
      // Encoded once for every subscriber of this node.
      frame ??= encode(pubFrame(publication))
      if (sendFrame(subscription.connection, frame)) sent++
    }
    if (frame !== undefined) {
      this.#metrics.frameOut('pub', Buffer.byteLength(frame), sent)
      this.#metrics.publishLatency(Date.now() - publication.t)
    }
  }

  #deliverPresence (event: PresenceEvent): void {
    const local = this.#channels.get(event.channel)
    if (local === undefined) return
    let frame: string | undefined
    for (const subscription of local.subscribers) {
      if (!subscription.policy.presence) continue
      if (!subscription.live) {
        subscription.pendingPresence.push(event)
        continue
      }
      frame ??= encode({ type: 'presence', channel: event.channel, action: event.action, member: event.member })
      sendFrame(subscription.connection, frame)
    }
  }

  // ---- bookkeeping ----

  #join (subscription: Subscription): LocalChannel {
    const { channel } = subscription
    let local = this.#channels.get(channel)
    if (local === undefined) {
      local = { subscribers: new Set(), ready: this.#adapterOp(channel, async () => { await this.#adapter.subscribe(channel) }) }
      this.#channels.set(channel, local)
    }
    local.subscribers.add(subscription)
    return local
  }

  /** Take a subscription out of every list; unsubscribe the adapter when it was the channel's last. */
  #remove (subscription: Subscription): void {
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
    if (subscription.present) this.#removePresence(subscription)
  }

  #removePresence (subscription: Subscription): void {
    subscription.present = false
    this.#adapter.presenceRemove(subscription.channel, subscription.connection.id).catch((err: unknown) => {
      this.#metrics.adapterError('presence')
      this.#log.error({ err, channel: subscription.channel }, 'presence remove failed')
    })
  }

  #dropConnection (connection: Connection): void {
    const subscriptions = this.#byConnection.get(connection)
    if (subscriptions === undefined) return
    for (const subscription of [...subscriptions.values()]) this.#remove(subscription)
    this.#byConnection.delete(connection)
  }

  /** Run adapter subscribe/unsubscribe calls of one channel one after the other, in call order. */
  #adapterOp (channel: string, op: () => Promise<void>): Promise<void> {
    const previous = this.#adapterOps.get(channel) ?? Promise.resolve()
    const next = previous.catch(() => {}).then(op)
    this.#adapterOps.set(channel, next)
    const forget = (): void => { if (this.#adapterOps.get(channel) === next) this.#adapterOps.delete(channel) }
    next.then(forget, forget)
    return next
  }

  #refreshPresence (): void {
    for (const subscriptions of this.#byConnection.values()) {
      for (const subscription of subscriptions.values()) {
        if (!subscription.present) continue
        const entry = this.#presenceEntry(subscription.connection)
        if (entry === null) continue
        this.#adapter.presenceAdd(subscription.channel, entry, this.#presenceTtlMs).catch((err: unknown) => {
          this.#metrics.adapterError('presence')
          this.#log.warn({ err, channel: subscription.channel }, 'presence refresh failed')
        })
      }
    }
  }

  /** A connection counts in presence only with a visitor (anonymous sockets are not listed). */
  #presenceEntry (connection: Connection): PresenceEntry | null {
    const visitor = connection.visitor
    if (visitor === null) return null
    return { clientId: connection.id, visitorId: visitor.id, name: visitor.name }
  }

  #context (connection: Connection, channel: string): ChannelContext {
    return { channel, connection, visitor: connection.visitor, request: this.#requests.get(connection) }
  }

  #send (connection: Connection, message: ServerMessage): void {
    const text = encode(message)
    if (sendFrame(connection, text)) this.#metrics.frameOut(message.type, Buffer.byteLength(text), 1)
  }

  #error (connection: Connection, id: RequestId, code: ClientErrorCodeValue, text: string): void {
    const error: ErrorMessage = { type: 'error', code, message: text }
    if (id !== undefined) error.id = id
    this.#send(connection, error)
  }
}
