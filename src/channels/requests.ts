/**
 * The channel requests of clients: `sub`, `unsub` and `pub`, each checked against the channel's
 * declaration and answered with an `ack` or a coded `error` (with the request's id).
 *
 * A subscribe completes in steps that wait: the `canSubscribe` hook, the adapter subscribe, the
 * history read, the presence entry. An `unsub` (or the connection's close) may arrive during any
 * of them, so after each the subscribe checks whether it was cancelled, and undoes what it did
 * (its presence entry) before giving up. Once everything is read, the ack, the replay, what
 * arrived meanwhile and the switch to live happen in one synchronous step: nothing is sent twice,
 * skipped or out of order.
 */
import type { FastifyRequest } from 'fastify'
import type { PresenceMember, Publication, PublishOptions, RealtimeAdapter, StreamPosition } from '../adapters/adapter.js'
import { ClientErrorCode, type ClientErrorCodeValue } from '../errors.js'
import type { RealtimeMetrics } from '../metrics/metrics.js'
import type { Connection } from '../node/connection.js'
import type { PublishRequest, RequestId, SubscribeRequest, UnsubscribeRequest } from '../wire/client-messages.js'
import { publicationMessage, type AckMessage, type ErrorMessage, type ServerMessage } from '../wire/server-messages.js'
import type { LocalChannels } from './local-channels.js'
import type { ChannelContext, ChannelPolicy, ChannelRegistry } from './policy.js'
import { presenceNews, type ChannelPresence } from './presence.js'
import { Subscription } from './subscription.js'

/** The history settings of a publish on a channel (from its policy). */
export function historyOf (policy: ChannelPolicy): PublishOptions {
  return { historySize: policy.historySize, historyTtlMs: policy.historyTtlMs }
}

/**
 * The idempotency key a client's `pub` is remembered under: in the visitor's own space, so that
 * one visitor's keys never suppress another's publications (anonymous sockets share one space,
 * which is why the client library's keys are random), and apart from the HTTP API's keys.
 */
function clientPublishKey (connection: Connection, key: string): string {
  return connection.visitor === null ? `client::${key}` : `client:${connection.visitor.id}:${key}`
}

/** What {@link ChannelRequests} is made from. */
export interface ChannelRequestsOptions {
  registry: ChannelRegistry
  adapter: RealtimeAdapter
  channels: LocalChannels
  presence: ChannelPresence
  maxSubscriptionsPerConnection: number
  /** How long the idempotency key of a client's `pub` is remembered, in ms. */
  idempotencyTtlMs: number
  metrics: RealtimeMetrics
  /** Sends one message to one connection (the node's `sendTo`). */
  send: (connection: Connection, message: ServerMessage) => boolean
  /** The upgrade request of a connection, when it is kept for the hooks. */
  requestOf: (connection: Connection) => FastifyRequest | undefined
}

/** See the module comment. */
export class ChannelRequests {
  readonly #options: ChannelRequestsOptions

  constructor (options: ChannelRequestsOptions) {
    this.#options = options
  }

  /** A client's `sub`. */
  subscribe (connection: Connection, message: SubscribeRequest): void {
    const { channel, id } = message
    const { registry, channels, maxSubscriptionsPerConnection } = this.#options
    const policy = registry.match(channel)
    if (policy === undefined) {
      this.#error(connection, id, ClientErrorCode.UNKNOWN_CHANNEL, `No channel "${channel}" is declared on this server.`)
      return
    }
    if (channels.get(connection, channel) !== undefined) {
      this.#error(connection, id, ClientErrorCode.ALREADY_SUBSCRIBED, `Already subscribed to "${channel}".`)
      return
    }
    if (channels.countOf(connection) >= maxSubscriptionsPerConnection) {
      this.#error(connection, id, ClientErrorCode.TOO_MANY_SUBSCRIPTIONS, `At most ${maxSubscriptionsPerConnection} subscriptions per connection; unsubscribe from one first.`)
      return
    }
    const subscription = new Subscription(connection, channel, policy)
    channels.add(subscription)
    this.#complete(subscription, message).catch((err: unknown) => {
      if (subscription.cancelled) return
      connection.log.error({ err, channel }, 'subscribe failed')
      this.#options.metrics.adapterError('subscribe')
      this.drop(subscription)
      this.#error(connection, id, ClientErrorCode.SUBSCRIBE_FAILED, `Could not subscribe to "${channel}" right now; try again.`)
    })
  }

  /** A client's `unsub`: it takes effect at once, on a subscribe still in flight too. */
  unsubscribe (connection: Connection, message: UnsubscribeRequest): void {
    const subscription = this.#options.channels.get(connection, message.channel)
    if (subscription === undefined) {
      this.#error(connection, message.id, ClientErrorCode.NOT_SUBSCRIBED, `Not subscribed to "${message.channel}".`)
      return
    }
    this.drop(subscription)
    if (message.id !== undefined) this.#options.send(connection, { type: 'ack', id: message.id, channel: message.channel })
  }

  /** A client's `pub`. */
  publish (connection: Connection, message: PublishRequest): void {
    const { channel, id } = message
    const policy = this.#options.registry.match(channel)
    if (policy === undefined) {
      this.#error(connection, id, ClientErrorCode.UNKNOWN_CHANNEL, `No channel "${channel}" is declared on this server.`)
      return
    }
    if (!policy.clientPublish) {
      this.#error(connection, id, ClientErrorCode.PUBLISH_FORBIDDEN, `Clients may not publish to "${channel}".`)
      return
    }
    this.#publish(connection, policy, message).catch((err: unknown) => {
      connection.log.error({ err, channel }, 'publish failed')
      this.#options.metrics.adapterError('publish')
      this.#error(connection, id, ClientErrorCode.PUBLISH_FAILED, `Could not publish to "${channel}" right now; try again.`)
    })
  }

  /** Drop a subscription: out of the local lists, and out of presence if it was listed. */
  drop (subscription: Subscription): void {
    this.#options.channels.remove(subscription)
    if (subscription.present) this.#options.presence.remove(subscription)
  }

  /** Drop every subscription of a connection that closed. */
  dropConnection (connection: Connection): void {
    for (const subscription of this.#options.channels.of(connection)) this.drop(subscription)
  }

  async #complete (subscription: Subscription, message: SubscribeRequest): Promise<void> {
    const { connection, channel, policy } = subscription
    const { adapter, channels, presence } = this.#options
    let allowed = false
    try {
      allowed = await policy.canSubscribe(this.#context(connection, channel))
    } catch (err) {
      connection.log.warn({ err, channel }, 'canSubscribe threw; subscription refused')
    }
    if (this.#abandoned(subscription, message.id)) return
    if (allowed !== true) {
      this.drop(subscription)
      this.#error(connection, message.id, ClientErrorCode.FORBIDDEN, `You may not subscribe to "${channel}".`)
      return
    }
    // From here live publications are buffered in the subscription until the replay is sent.
    await channels.join(subscription)
    if (this.#abandoned(subscription, message.id)) return
    let position: StreamPosition
    let recovered = false
    let replay: Publication[]
    if (message.since !== undefined) {
      const result = await adapter.since(channel, message.since)
      ;({ position, recovered } = result)
      replay = result.publications
    } else {
      ({ position, publications: replay } = await adapter.recent(channel, Math.min(message.rewind ?? 0, policy.historySize)))
    }
    if (this.#abandoned(subscription, message.id)) return
    let members: PresenceMember[] | null = null
    if (policy.presence) {
      await presence.add(subscription)
      if (this.#abandoned(subscription, message.id)) return
      members = await presence.members(channel)
      if (this.#abandoned(subscription, message.id)) return
    }
    if (subscription.overflowed) throw new Error(`more than the pending limit of publications arrived while subscribing to ${channel}`)
    // No await from here on: the ack, the replay, the buffered frames and the switch to live are one step.
    subscription.startAt(position.epoch, position.offset)
    const ack: AckMessage = { type: 'ack', channel, recovered, offset: position.offset, epoch: position.epoch }
    if (message.id !== undefined) ack.id = message.id
    this.#options.send(connection, ack)
    for (const publication of replay) this.#options.send(connection, publicationMessage(publication))
    for (const publication of subscription.pendingPublications) {
      if (subscription.accept(publication)) this.#options.send(connection, publicationMessage(publication))
    }
    subscription.pendingPublications.length = 0
    if (members !== null) {
      this.#options.send(connection, { type: 'presence', channel, action: 'snapshot', members })
      for (const event of presenceNews(members, subscription.pendingPresence)) this.#options.send(connection, { type: 'presence', channel, action: event.action, member: event.member })
    }
    subscription.pendingPresence.length = 0
    subscription.live = true
    connection.log.debug({ channel, recovered, offset: position.offset, replayed: replay.length }, 'subscribed')
  }

  /** True when the subscription was cancelled meanwhile: its presence entry, if just made, is removed. */
  #abandoned (subscription: Subscription, id: RequestId | undefined): boolean {
    if (!subscription.cancelled) return false
    if (subscription.present) this.#options.presence.remove(subscription)
    if (!subscription.connection.closed) this.#error(subscription.connection, id, ClientErrorCode.CANCELLED, `The subscription to "${subscription.channel}" was cancelled before it completed.`)
    return true
  }

  async #publish (connection: Connection, policy: ChannelPolicy, message: PublishRequest): Promise<void> {
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
    const options = message.key === undefined
      ? historyOf(policy)
      : { ...historyOf(policy), idempotencyKey: clientPublishKey(connection, message.key), idempotencyTtlMs: this.#options.idempotencyTtlMs }
    const publication = await this.#options.adapter.publish(channel, data, options)
    if (id === undefined) return
    const ack: AckMessage = { type: 'ack', id, channel, offset: publication.offset, epoch: publication.epoch }
    if (publication.duplicate === true) ack.duplicate = true
    this.#options.send(connection, ack)
  }

  #context (connection: Connection, channel: string): ChannelContext {
    return { channel, connection, visitor: connection.visitor, request: this.#options.requestOf(connection) }
  }

  #error (connection: Connection, id: RequestId | undefined, code: ClientErrorCodeValue, text: string): void {
    const error: ErrorMessage = { type: 'error', code, message: text }
    if (id !== undefined) error.id = id
    this.#options.send(connection, error)
  }
}
