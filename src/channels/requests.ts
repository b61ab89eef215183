/**
 * The channel requests of clients: `sub`, `unsub` and `pub`, each checked against the channel's
 * declaration and answered with an `ack` or a coded `error` (with the request's id); and the
 * server's own subscriptions of a connection (`subscribed` / `unsubscribed` frames), which run the
 * same subscribe flow without the client's checks (no grant, no `canSubscribe`: the server decides).
 *
 * A subscribe completes in steps that wait: the `canSubscribe` hook, the adapter subscribe, the
 * history read, the presence entry. An `unsub` (or the connection's close) may arrive during any
 * of them, so after each the subscribe checks whether it was cancelled, and undoes what it did
 * (its presence entry) before giving up. Once everything is read (the replay: recovery/replay.ts),
 * the ack, the replay, what arrived meanwhile and the switch to live happen in one synchronous
 * step: nothing is sent twice, skipped or out of order.
 *
 * A private channel's subscription lasts as long as its grant: the channel token's `exp` is a
 * deadline on one {@link DeadlineWheel} (one timer for every grant), and at it the subscription is
 * ended with an `unsubscribed` frame whose code is `token_expired`. The client subscribes again
 * with `since` and a new token, and gets what was published meanwhile.
 */
import type { FastifyRequest } from 'fastify'
import type { Broker, PublishOptions, StreamPosition } from '../adapters/broker.js'
import type { PresenceMember } from '../adapters/presence.js'
import { publishFingerprint } from '../adapters/fingerprint.js'
import type { TokenRefusal, TokenVerifier } from '../auth/tokens.js'
import { ClientErrorCode, IdempotencyKeyReusedError, type ClientErrorCodeValue } from '../errors.js'
import type { RealtimeMetrics } from '../metrics/metrics.js'
import type { SendKind } from '../limits/send-budget.js'
import type { Connection } from '../node/connection.js'
import { DeadlineWheel } from '../node/deadline-wheel.js'
import { readReplay } from '../recovery/replay.js'
import type { PublishRequest, RequestId, SubscribeRequest, UnsubscribeRequest } from '../protocols/ours/client-messages.js'
import { gapMessage, publicationMessage, type AckMessage, type ErrorMessage, type ServerMessage, type SubscribedMessage, type SubscriptionSource } from '../protocols/ours/server-messages.js'
import type { FramePosition } from '../protocols/ws-frame.js'
import type { LocalChannels } from './local-channels.js'
import type { ChannelContext, ChannelPolicy, ChannelRegistry } from './policy.js'
import { presenceNews, type ChannelPresence } from './presence.js'
import { Subscription, type SubscriptionMember } from './subscription.js'

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
  adapter: Pick<Broker, 'publish' | 'since' | 'recent'>
  channels: LocalChannels
  presence: ChannelPresence
  maxSubscriptionsPerConnection: number
  /** Most publications one recovery (a `sub` with `since`) replays; a larger gap is not recovered. */
  maxRecoveryReplay: number
  /** How long the idempotency key of a client's `pub` is remembered, in ms. */
  idempotencyTtlMs: number
  metrics: RealtimeMetrics
  /** Sends one message to one connection (the node's `sendTo`), with the stream position it moves the client to. */
  /** `kind` `replay`: a replay's frame, streamed as the socket drains (limits/send-backlog.ts). */
  send: (connection: Connection, message: ServerMessage, position?: FramePosition, kind?: SendKind) => boolean
  /** The upgrade request of a connection, when it is kept for the hooks. */
  requestOf: (connection: Connection) => FastifyRequest | undefined
  /** Verifies the channel tokens of private channels (null: no token key, so no private channel). */
  grants: TokenVerifier | null
}

/** Width of a grant deadline's bucket: a subscription ends within a second after its grant's `exp`. */
const GRANT_BUCKET_MS = 1000

/** What a subscribe starts from: a client's `sub`, or the server's own subscription. */
interface SubscribeStart {
  since?: StreamPosition | undefined
  rewind?: number | undefined
  token?: string | undefined
  /** The client's request id (client subscriptions). */
  id?: RequestId | undefined
  /** Set for a server-side subscription: who re-adds it after a reconnect. */
  source?: SubscriptionSource
  /** The client's request was signed by the application (a Pusher channel auth): it stands in for a private channel's token. */
  signed?: boolean | undefined
  /** Called in the same step as the switch to live, after the ack and the replay, with how many publications were replayed. */
  onLive?: ((replayed: number) => void) | undefined
}

/** What a subscribe made for another protocol's request adds to a `sub` (see {@link ChannelRequests.subscribe}). */
export interface SubscribeExtras {
  /** The Pusher channel auth was checked: no channel token is asked for. */
  signed?: boolean
  /** Who the subscription lists in presence (else the connection's visitor). */
  member?: SubscriptionMember
  /** Told once the subscription is live, with how many publications were replayed (a Pusher cache channel's `cache_miss`). */
  onLive?: (replayed: number) => void
}

/** See the module comment. */
export class ChannelRequests {
  readonly #options: ChannelRequestsOptions
  /** The grants of private subscriptions, by their `exp`. */
  readonly #grants: DeadlineWheel<Subscription>

  constructor (options: ChannelRequestsOptions) {
    this.#options = options
    this.#grants = new DeadlineWheel<Subscription>({
      bucketMs: GRANT_BUCKET_MS,
      onExpire: (due) => { for (const subscription of due) this.#grantExpired(subscription) }
    })
  }

  /** Forget every grant deadline (the node closes). */
  stop (): void {
    this.#grants.clear()
  }

  /**
   * A client's `sub` (or one the server makes for it when it resumes).
   * @returns settles once it is answered (acked, refused or failed); never rejects
   */
  async subscribe (connection: Connection, message: SubscribeRequest, extras: SubscribeExtras = {}): Promise<void> {
    const { channel, id } = message
    const { registry, channels, maxSubscriptionsPerConnection } = this.#options
    const policy = registry.match(channel)
    if (policy === undefined) {
      this.#error(connection, id, ClientErrorCode.UNKNOWN_CHANNEL, `No channel "${channel}" is declared on this server.`)
      return
    }
    // Before anything else about the channel: a client never subscribes to it, whoever it is.
    if (policy.serverOnly) {
      this.#error(connection, id, ClientErrorCode.SERVER_ONLY, `Only the server subscribes connections to "${channel}".`)
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
    if (extras.member !== undefined) subscription.member = extras.member
    channels.add(subscription)
    await this.#complete(subscription, { ...message, signed: extras.signed, onLive: extras.onLive }).catch((err: unknown) => {
      if (subscription.cancelled) return
      connection.log.error({ err, channel }, 'subscribe failed')
      this.#options.metrics.adapterError('subscribe')
      this.drop(subscription)
      this.#error(connection, id, ClientErrorCode.SUBSCRIBE_FAILED, `Could not subscribe to "${channel}" right now; try again.`)
    })
  }

  /**
   * Subscribe a connection from the server (no grant or `canSubscribe`: the server decides),
   * from `since` when given (the position when the application asked, so nothing published after
   * that is missed), with a `subscribed` frame instead of an ack. A connection already subscribed
   * to the channel, or at its subscription limit, is left as it is.
   * @returns whether a subscribe started
   */
  subscribeFromServer (connection: Connection, channel: string, source: SubscriptionSource, since?: StreamPosition): boolean {
    const { registry, channels, maxSubscriptionsPerConnection } = this.#options
    const policy = registry.match(channel)
    if (policy === undefined || connection.closed || channels.get(connection, channel) !== undefined) return false
    if (channels.countOf(connection) >= maxSubscriptionsPerConnection) {
      connection.log.warn({ channel, maxSubscriptionsPerConnection }, 'server-side subscription skipped: at the subscription limit')
      return false
    }
    const subscription = new Subscription(connection, channel, policy)
    channels.add(subscription)
    this.#complete(subscription, { since, source }).catch((err: unknown) => {
      if (subscription.cancelled) return
      connection.log.error({ err, channel }, 'server-side subscribe failed')
      this.#options.metrics.adapterError('subscribe')
      this.drop(subscription)
    })
    return true
  }

  /**
   * End a connection's subscription from the server, whoever made it, with an `unsubscribed` frame.
   * @returns whether it had one
   */
  unsubscribeFromServer (connection: Connection, channel: string): boolean {
    const subscription = this.#options.channels.get(connection, channel)
    if (subscription === undefined) return false
    this.#endFromServer(subscription)
    return true
  }

  /** Drop a subscription the server ended and tell its client, with why when it was not the application's choice. */
  #endFromServer (subscription: Subscription, code?: typeof ClientErrorCode.TOKEN_EXPIRED): void {
    this.drop(subscription)
    const { connection, channel } = subscription
    this.#options.send(connection, code === undefined ? { type: 'unsubscribed', channel } : { type: 'unsubscribed', channel, code })
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
      if (err instanceof IdempotencyKeyReusedError) {
        connection.log.debug({ channel }, 'pub refused: its key was used for another publication')
        this.#error(connection, id, ClientErrorCode.IDEMPOTENCY_KEY_REUSED, `The key of this pub was already used for a different publication to "${channel}"; nothing was published: use a new key.`)
        return
      }
      connection.log.error({ err, channel }, 'publish failed')
      this.#options.metrics.adapterError('publish')
      this.#error(connection, id, ClientErrorCode.PUBLISH_FAILED, `Could not publish to "${channel}" right now; try again.`)
    })
  }

  /** Drop a subscription: out of the local lists, out of presence if it was listed, and no longer followed for its client. */
  drop (subscription: Subscription): void {
    this.#grants.cancel(subscription)
    this.#options.channels.remove(subscription)
    if (subscription.present) this.#options.presence.remove(subscription)
    subscription.connection.unsubscribed(subscription.channel)
  }

  /** Drop every subscription of a connection that closed. */
  dropConnection (connection: Connection): void {
    for (const subscription of this.#options.channels.of(connection)) this.drop(subscription)
  }

  async #complete (subscription: Subscription, message: SubscribeStart): Promise<void> {
    const { connection, channel, policy } = subscription
    const { adapter, channels, presence } = this.#options
    if (message.source === undefined && !await this.#authorised(subscription, message)) return
    if (this.#abandoned(subscription, message)) return
    // From here live publications are buffered in the subscription until the replay is sent.
    await channels.join(subscription)
    if (this.#abandoned(subscription, message)) return
    const { position, recovered, publications: replay, startsAt: start } = await readReplay(adapter, channel, message, { maxRecoveryReplay: this.#options.maxRecoveryReplay, historySize: policy.historySize })
    if (this.#abandoned(subscription, message)) return
    let members: PresenceMember[] | null = null
    if (policy.presence) {
      await presence.add(subscription)
      if (this.#abandoned(subscription, message)) return
      members = await presence.members(channel)
      if (this.#abandoned(subscription, message)) return
    }
    if (subscription.overflowed) throw new Error(`more than the pending limit of publications arrived while subscribing to ${channel}`)
    // No await from here on: the ack, the replay, the buffered frames and the switch to live are one step.
    subscription.startAt(position.epoch, position.offset)
    // The client stands where the replay starts: a stream cut during the replay resumes from there.
    const startsAt: FramePosition = { channel, epoch: start.epoch, offset: start.offset }
    if (message.source === undefined) {
      const ack: AckMessage = { type: 'ack', channel, recovered, offset: position.offset, epoch: position.epoch }
      if (message.id !== undefined) ack.id = message.id
      this.#options.send(connection, ack, startsAt)
    } else {
      const subscribed: SubscribedMessage = { type: 'subscribed', channel, offset: position.offset, epoch: position.epoch, recovered, source: message.source }
      this.#options.send(connection, subscribed, startsAt)
    }
    // The replay goes out as the socket drains; what follows it waits behind it (send-backlog.ts).
    for (const publication of replay) this.#options.send(connection, publicationMessage(publication), undefined, 'replay')
    for (const held of subscription.takePending()) {
      if ('gap' in held) this.#options.send(connection, gapMessage(channel, held.gap), { channel, ...held.gap })
      else if (held.publication.except !== connection.id) this.#options.send(connection, publicationMessage(held.publication))
    }
    if (members !== null) {
      this.#options.send(connection, { type: 'presence', channel, action: 'snapshot', members })
      for (const event of presenceNews(members, subscription.pendingPresence)) this.#options.send(connection, { type: 'presence', channel, action: event.action, member: event.member })
    }
    subscription.pendingPresence.length = 0
    subscription.live = true
    message.onLive?.(replay.length)
    connection.log.debug({ channel, recovered, offset: position.offset, replayed: replay.length }, 'subscribed')
  }

  /**
   * A client's subscribe: the channel token of a private channel, then `canSubscribe`. A refusal
   * is answered and the subscription dropped.
   * @returns whether it may go on (false also when it was cancelled meanwhile)
   */
  async #authorised (subscription: Subscription, message: SubscribeStart): Promise<boolean> {
    const { connection, channel, policy } = subscription
    if (policy.private && message.signed !== true) {
      const grants = this.#options.grants
      if (message.token === undefined || grants === null) {
        this.drop(subscription)
        this.#error(connection, message.id, ClientErrorCode.TOKEN_REQUIRED, `"${channel}" is private: send a channel token with the sub.`)
        return false
      }
      let expiresAt: number
      try {
        expiresAt = (await grants.verifyChannel(message.token, channel, connection.visitor?.id)).expiresAt
      } catch (err) {
        if (this.#abandoned(subscription, message)) return false
        this.drop(subscription)
        this.#error(connection, message.id, ClientErrorCode.TOKEN_INVALID, `Channel token refused: ${(err as TokenRefusal).message}.`)
        return false
      }
      if (this.#abandoned(subscription, message)) return false
      this.#grants.schedule(subscription, expiresAt)
    }
    let allowed = false
    try {
      allowed = await policy.canSubscribe(this.#context(connection, channel))
    } catch (err) {
      connection.log.warn({ err, channel }, 'canSubscribe threw; subscription refused')
    }
    if (this.#abandoned(subscription, message)) return false
    if (allowed !== true) {
      this.drop(subscription)
      this.#error(connection, message.id, ClientErrorCode.FORBIDDEN, `You may not subscribe to "${channel}".`)
      return false
    }
    return true
  }

  /**
   * A grant reached its `exp`. A live subscription is ended with `unsubscribed` (`token_expired`);
   * one still being set up is looked at again a bucket later, so its client is answered once,
   * by the ack, before it is told the grant ended.
   */
  #grantExpired (subscription: Subscription): void {
    const { connection, channel } = subscription
    if (subscription.cancelled || connection.closed) return
    if (!subscription.live) {
      this.#grants.schedule(subscription, Date.now() + GRANT_BUCKET_MS)
      return
    }
    connection.log.debug({ channel }, 'channel grant expired')
    this.#endFromServer(subscription, ClientErrorCode.TOKEN_EXPIRED)
  }

  /** True when the subscription was cancelled meanwhile: its presence entry, if just made, is removed. */
  #abandoned (subscription: Subscription, start: SubscribeStart): boolean {
    if (!subscription.cancelled) return false
    if (subscription.present) this.#options.presence.remove(subscription)
    // A client's request is answered; a server-side subscription has no request to answer.
    if (start.source === undefined && !subscription.connection.closed) {
      this.#error(subscription.connection, start.id, ClientErrorCode.CANCELLED, `The subscription to "${subscription.channel}" was cancelled before it completed.`)
    }
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
      : {
          ...historyOf(policy),
          idempotencyKey: clientPublishKey(connection, message.key),
          idempotencyTtlMs: this.#options.idempotencyTtlMs,
          // The key is bound to what the client sent, not to what the hook made of it (which may differ on a retry).
          idempotencyFingerprint: publishFingerprint(channel, message.data)
        }
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
