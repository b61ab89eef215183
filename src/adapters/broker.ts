/**
 * The broker part of the adapter contract: where publications are stamped, kept and fanned out,
 * and how nodes reach each other. As centrifuge's `Broker`: publish (with offsets and
 * idempotency), history (`since`, `recent`), channel subscriptions, and control messages between
 * nodes. A NATS or Redis Cluster author writes this part and passes its own contract suite
 * (`runBrokerContract` in test/contract/adapter-contract.ts).
 *
 * Direction of calls: the node calls the broker's methods; the broker calls back into the node
 * only through the {@link BrokerHandler} it was given in {@link Broker.init}, so a broker never
 * imports the hub or the node.
 */

/** A position in a channel's stream: the offset of the last publication and the stream's epoch. */
export interface StreamPosition {
  /** Offset of the last publication (0 before the first one). Offsets increase by exactly 1. */
  offset: number
  /**
   * Identifies one life of the stream. It changes whenever the history is lost (a restart of the
   * memory adapter, an expired Redis key), so offsets from another epoch are never compared.
   */
  epoch: string
}

/** One publication, as the broker stamped it. */
export interface Publication {
  channel: string
  /** Its offset in the channel's stream (1 for the first publication of an epoch). */
  offset: number
  epoch: string
  /** The application's payload (any JSON value). */
  data: unknown
  /** Server time at which it was stamped, epoch milliseconds. */
  t: number
  /**
   * The event name it was published under (a Pusher event name, `PublishOptions.event`), when it
   * has one. Kept with it in the history, so a replay carries it too.
   */
  event?: string
  /**
   * A connection id (delivery only): the one connection that does not get it live, on whichever
   * node it is (the sender of a Pusher client event, Laravel's `toOthers()`). A replay from the
   * history does not look at it.
   */
  except?: string
  /** The Pusher user id of the client event's sender on a presence channel (`user_id` in its frames). */
  userId?: string
  /**
   * Set on the answer to a publish whose idempotency key was already used: nothing was published,
   * and `offset`, `epoch` and `t` are the first publication's (`data` is what this call passed).
   */
  duplicate?: true
}

/** History settings of one publish (they come from the channel's policy). */
export interface PublishOptions {
  /** How many publications to keep for recovery; 0 keeps none (offsets are still assigned). */
  historySize: number
  /** How long a kept publication stays recoverable, in milliseconds. */
  historyTtlMs: number
  /**
   * Makes the publish idempotent: while this key is remembered for the channel, another publish
   * with it publishes nothing and answers the first publication's position (`duplicate: true`).
   * Checked and recorded in the same atomic step as the offset, so concurrent retries on several
   * nodes publish once.
   */
  idempotencyKey?: string
  /** How long an idempotency key is remembered, in milliseconds (with `idempotencyKey`). */
  idempotencyTtlMs?: number
  /**
   * What the key is bound to (with `idempotencyKey`): the request as its sender made it, when that
   * is not `data` (a client `pub` whose data the channel's hook rewrites). A repeat of the key with
   * another fingerprint publishes nothing and rejects with FRT_IDEMPOTENCY_KEY_REUSED, checked in
   * the same atomic step as the key. @default publishFingerprint(channel, data)
   */
  idempotencyFingerprint?: string
  /** The publication's event name ({@link Publication.event}). */
  event?: string | undefined
  /** The connection that does not get it live ({@link Publication.except}). */
  except?: string | undefined
  /** The sender's Pusher user id ({@link Publication.userId}). */
  userId?: string | undefined
}

/** The {@link Publication} fields a publish's options add to it, as the broker stamps them (only those set). */
export function publicationExtras (options: Pick<PublishOptions, 'event' | 'except' | 'userId'>): Pick<Publication, 'event' | 'except' | 'userId'> {
  const extras: Pick<Publication, 'event' | 'except' | 'userId'> = {}
  if (options.event !== undefined) extras.event = options.event
  if (options.except !== undefined) extras.except = options.except
  if (options.userId !== undefined) extras.userId = options.userId
  return extras
}

/** The answer to {@link Broker.since}. */
export interface SinceResult {
  /** The stream's current position (offset of its newest publication and its epoch). */
  position: StreamPosition
  /**
   * True when `publications` are exactly every publication after the requested position (same
   * epoch, nothing expired or trimmed in between). False when the epoch changed or the gap is older
   * than the history; `publications` then holds what is retained in the current epoch, oldest first.
   */
  recovered: boolean
  /** Oldest first, offsets consecutive. */
  publications: Publication[]
}

/** The answer to {@link Broker.recent}. */
export interface RecentResult {
  position: StreamPosition
  /** The newest retained publications (at most the limit), oldest first. */
  publications: Publication[]
}

/**
 * A message from one node to every node, itself included: what must reach a user, a connection
 * or a stream wherever it is connected (per-user delivery, a kick, a server-side subscription, an
 * action posted to another node). A node ignores kinds it does not know. A broker carries it as
 * it is (JSON); what it says is the node's business (src/cluster/: the kinds, the envelope).
 */
export interface ControlMessage {
  /** What it is: one of the kinds declared in src/cluster/kinds.ts. */
  kind: string
  /** The rest (the cluster's envelope: `from`, `to`, `id`, `body`): any JSON values. */
  [field: string]: unknown
}

/** What the node tells its broker at {@link Broker.init}: the plugin options it must follow. */
export interface AdapterSettings {
  /**
   * The plugin's `presenceTtlMs`: how long a mark this node keeps in shared state (a presence
   * entry, its occupancy of a channel) outlives its last refresh. A node that dies is gone from
   * every channel within it, so `channel.vacated` and `presence.leave` agree on one delay.
   */
  presenceTtlMs: number
}

/** How the broker reaches the node. Calls must be cheap and never throw back into the broker. */
export interface BrokerHandler {
  /**
   * A publication on a channel this node subscribes to, including the node's own publications,
   * exactly once per node and in offset order per channel.
   */
  onPublication: (publication: Publication) => void
  /** A control message (see {@link Broker.control}), once per node. */
  onControl?: (message: ControlMessage) => void
  /** The broker failed in the background (lost its connection…); `operation` names what failed. */
  onError?: (error: Error, operation: string) => void
  /** What failed in the background works again (a lost connection is back); `what` says which. */
  onRestored?: (what: string) => void
  /**
   * Publications of a channel this node subscribes to could not be delivered to it: publications
   * before `position` (after the last one delivered) are lost to this node, and its subscribers
   * must be told they were not recovered. The channel's stream goes on after `position`: the
   * publications delivered next (through `onPublication`, in order) follow it. `cause` says why:
   * see {@link GapCause}. A broker that never loses a publication on its way (the memory adapter)
   * never calls it; a broker that can (Redis pub/sub) calls it instead of skipping silently.
   */
  onGap?: (channel: string, position: StreamPosition, cause: GapCause) => void
  /**
   * A gap in what reached this node (publications lost on the way: an offset jump, a reconnect, a
   * position check that found the channel behind) was filled from the history: `publications`
   * of them were delivered, in order, before what followed. For metrics and logs.
   */
  onGapRecovered?: (channel: string, publications: number) => void
  /**
   * The broker's periodic position check (a broker that has one: RedisAdapter's
   * `positionCheckIntervalMs`) read the position of the `channels` this node follows and found
   * `behind` of them behind what it delivered (each then recovered, or told through `onGap`).
   */
  onPositionCheck?: (channels: number, behind: number) => void
  /**
   * This node subscribed again to `channels` of its channels after their subscription was cut
   * (`cause`: see {@link ResubscribeCause}); each is then recovered from the history, or told
   * through `onGap`. For metrics: a storm of these is what a failover costs.
   */
  onResubscribe?: (channels: number, cause: ResubscribeCause) => void
}

/**
 * Why a broker subscribed again ({@link BrokerHandler.onResubscribe}):
 * - `reconnect`: its subscriber connection came back (a Redis restart, a Sentinel failover, a
 *   network cut);
 * - `shard`: a Redis Cluster shard's subscription was re-made (its master failed over, a slot
 *   moved to another master).
 */
export type ResubscribeCause = 'reconnect' | 'shard'

/**
 * Why publications could not be delivered to a node ({@link BrokerHandler.onGap}):
 * - `trimmed`: they were lost on the way, and the history no longer holds them (`historySize`,
 *   `historyTtlMs`, or a channel without history);
 * - `epoch`: the stream's history was lost (a new epoch: Redis restarted without its data, the
 *   stream expired);
 * - `fork`: the history diverged from what the node delivered (after a failover, a promoted
 *   replica lacked publications the node had delivered); the stream was moved to a new epoch,
 *   so that no node drops the new publications as duplicates of the lost ones.
 */
export type GapCause = 'trimmed' | 'epoch' | 'fork'

/**
 * Publications, history, channel subscriptions and control messages. Every method may be
 * asynchronous (Redis); the memory adapter answers synchronously wrapped in promises.
 */
export interface Broker {
  /** A short name for logs and metrics (`memory`, `redis`). */
  readonly name: string
  /**
   * The id this broker already names its node by, if any (RedisAdapter's `nodeId`): the node
   * takes it as its one id (control messages, node reports, event-stream keys) when it is 1–16
   * base64url characters, and makes its own otherwise.
   */
  readonly nodeId?: string
  /**
   * Whether the broker can serve right now (e.g. its Redis connections are up); `/ready` reports
   * not ready while it is false. Absent: always ready (the memory adapter).
   */
  readonly connected?: boolean
  /**
   * Connect the broker to the node. Called once, before any other method. A full adapter's `init`
   * receives the handlers of all three parts ({@link AdapterHandler} in adapter.ts).
   */
  init (handler: BrokerHandler, settings?: AdapterSettings): Promise<void>
  /**
   * Assign the next offset (in the stream's epoch), append to the history (trimmed to
   * `historySize`, entries older than `historyTtlMs` dropped) and fan out to every subscribed node,
   * as one atomic step per channel; with an `idempotencyKey` already remembered, do none of it.
   * @returns the stamped publication (or the first one's position, `duplicate: true`)
   * @throws IdempotencyKeyReusedError when the remembered key was used with another fingerprint
   */
  publish: (channel: string, data: unknown, options: PublishOptions) => Promise<Publication>
  /**
   * Start receiving the channel's publications (and, in a full adapter, its presence events). The
   * node calls it when its first local subscriber arrives; calls for one channel are applied in
   * the order they are made. In a full adapter the subscription is also the node's occupancy of
   * the channel (state.ts): the first node to occupy it is told `channel.occupied`.
   */
  subscribe: (channel: string) => Promise<void>
  /** Stop receiving the channel (the node's last local subscriber left); in a full adapter, the last node to leave is told `channel.vacated`. */
  unsubscribe: (channel: string) => Promise<void>
  /** Every retained publication after `position`, and whether that is the complete gap. */
  since: (channel: string, position: StreamPosition) => Promise<SinceResult>
  /** The stream's position and its newest `limit` retained publications (`limit` 0: the position only). */
  recent: (channel: string, limit: number) => Promise<RecentResult>
  /**
   * Hand a control message to every node, this one included, each exactly once and in the order
   * sent (while it is connected: a node that is cut off from the others misses what is sent meanwhile).
   * @returns once the message is on its way
   */
  control: (message: ControlMessage) => Promise<void>
  /** Release everything (timers, connections). The broker is not used afterwards. */
  close: () => Promise<void>
}
