/**
 * The adapter contract: everything a node needs from the place publications, history, presence
 * and shared state live, and how nodes reach each other (control messages). The memory adapter (one process) and the Redis adapter (many nodes) implement it, and one
 * shared contract test suite (test/contract/adapter-contract.ts) runs against each.
 *
 * Direction of calls, as in centrifuge's Broker/PresenceManager: the node calls the adapter's
 * methods; the adapter calls back into the node only through the {@link AdapterHandler} it was given
 * in {@link RealtimeAdapter.init}. So an adapter never imports the hub or the node.
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

/** One publication, as the adapter stamped it. */
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
}

/** The answer to {@link RealtimeAdapter.since}. */
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

/** The answer to {@link RealtimeAdapter.recent}. */
export interface RecentResult {
  position: StreamPosition
  /** The newest retained publications (at most the limit), oldest first. */
  publications: Publication[]
}

/** One connection present in a channel. A visitor with three tabs has three entries. */
export interface PresenceEntry {
  /** Connection id: unique across every node (random). */
  clientId: string
  /** The visitor (session) id; entries with the same visitor count as one member. */
  visitorId: string
  /** Display name, when the visitor has one. */
  name?: string | undefined
}

/** One member of a channel's presence: a visitor, however many connections they have. */
export interface PresenceMember {
  id: string
  name?: string | undefined
}

/**
 * A change in a channel's presence. `join` is sent when a visitor's first connection arrives and
 * again when their display name changes (treat it as an upsert); `leave` when their last connection
 * goes or expires.
 */
export interface PresenceEvent {
  channel: string
  action: 'join' | 'leave'
  member: PresenceMember
}

/**
 * A message from one node to every node, itself included: what must reach a user, a connection
 * or a stream wherever it is connected (per-user delivery, a kick, a server-side subscription, an
 * action posted to another node). A node ignores kinds it does not know.
 */
export interface ControlMessage {
  /** What it is, e.g. `user.send`; namespaced by the feature that sends it. */
  kind: string
  /** The rest: any JSON values. */
  [field: string]: unknown
}

/**
 * A change in a channel's life, as webhooks report it: the channel gained its first subscriber
 * (on any node) or lost its last; a visitor joined (their first connection) or left (their last,
 * whether it closed or expired on a node that died). Each is told to ONE node: the one whose
 * operation caused it, or whose sweep found it.
 */
export type LifecycleEvent =
  | { type: 'channel.occupied' | 'channel.vacated', channel: string }
  | { type: 'presence.join' | 'presence.leave', channel: string, member: PresenceMember }

/** What the node tells its adapter at {@link RealtimeAdapter.init}: the plugin options the adapter must follow. */
export interface AdapterSettings {
  /**
   * The plugin's `presenceTtlMs`: how long a mark this node keeps in shared state (a presence
   * entry, its occupancy of a channel) outlives its last refresh. A node that dies is gone from
   * every channel within it, so `channel.vacated` and `presence.leave` agree on one delay.
   */
  presenceTtlMs: number
}

/** How the adapter reaches the node. Calls must be cheap and never throw back into the adapter. */
export interface AdapterHandler {
  /**
   * A publication on a channel this node subscribes to, including the node's own publications,
   * exactly once per node and in offset order per channel.
   */
  onPublication: (publication: Publication) => void
  /** A presence change on a channel this node subscribes to. */
  onPresence: (event: PresenceEvent) => void
  /** The adapter failed in the background (lost its connection…); `operation` names what failed. */
  onError?: (error: Error, operation: string) => void
  /** What failed in the background works again (a lost connection is back); `what` says which. */
  onRestored?: (what: string) => void
  /** A control message (see {@link RealtimeAdapter.control}), once per node. */
  onControl?: (message: ControlMessage) => void
  /** A lifecycle change of a channel, on exactly one node across all of them. */
  onLifecycle?: (event: LifecycleEvent) => void
}

/**
 * Where publications, history and presence live. Every method may be asynchronous (Redis); the
 * memory adapter answers synchronously wrapped in promises.
 */
export interface RealtimeAdapter {
  /** A short name for logs and metrics (`memory`, `redis`). */
  readonly name: string
  /**
   * Whether the adapter can serve right now (e.g. its Redis connections are up); `/ready` reports
   * not ready while it is false. Absent: always ready (the memory adapter).
   */
  readonly connected?: boolean
  /** Connect the adapter to the node. Called once, before any other method. */
  init: (handler: AdapterHandler, settings?: AdapterSettings) => Promise<void>
  /**
   * Assign the next offset (in the stream's epoch), append to the history (trimmed to
   * `historySize`, entries older than `historyTtlMs` dropped) and fan out to every subscribed node,
   * as one atomic step per channel; with an `idempotencyKey` already remembered, do none of it.
   * @returns the stamped publication (or the first one's position, `duplicate: true`)
   * @throws IdempotencyKeyReusedError when the remembered key was used with another fingerprint
   */
  publish: (channel: string, data: unknown, options: PublishOptions) => Promise<Publication>
  /**
   * Start receiving the channel's publications and presence events. The node calls it when its
   * first local subscriber arrives; calls for one channel are applied in the order they are made.
   * The node now occupies the channel: the first node to do so is told `channel.occupied`.
   */
  subscribe: (channel: string) => Promise<void>
  /** Stop receiving the channel (the node's last local subscriber left); the last node to leave is told `channel.vacated`. */
  unsubscribe: (channel: string) => Promise<void>
  /** Every retained publication after `position`, and whether that is the complete gap. */
  since: (channel: string, position: StreamPosition) => Promise<SinceResult>
  /** The stream's position and its newest `limit` retained publications (`limit` 0: the position only). */
  recent: (channel: string, limit: number) => Promise<RecentResult>
  /**
   * Add a connection to the channel's presence, or refresh it: the entry expires `ttlMs` after the
   * last call unless removed first. The node refreshes its entries well within the TTL, so entries
   * of a node that died disappear by themselves.
   */
  presenceAdd: (channel: string, entry: PresenceEntry, ttlMs: number) => Promise<void>
  /** Remove one connection from the channel's presence (unknown ids are ignored). */
  presenceRemove: (channel: string, clientId: string) => Promise<void>
  /** The channel's members, one per visitor, ordered by visitor id. */
  presence: (channel: string) => Promise<PresenceMember[]>
  /**
   * Hand a control message to every node, this one included, each exactly once (while it is
   * connected: a node that is cut off from the others misses what is sent meanwhile).
   * @returns once the message is on its way
   */
  control: (message: ControlMessage) => Promise<void>
  /** Keep a JSON value under `key` for `ttlMs`, replacing what was there (shared by every node). */
  stateSet: (key: string, value: unknown, ttlMs: number) => Promise<void>
  /**
   * Keep a JSON value under `key` for `ttlMs` only if nothing is there: the one node (or request)
   * that gets true is the one that claimed it (do a thing once across nodes).
   * @returns whether this call stored it
   */
  stateClaim: (key: string, value: unknown, ttlMs: number) => Promise<boolean>
  /** The value kept under `key`, or undefined when there is none (or it expired). */
  stateGet: (key: string) => Promise<unknown>
  /** Forget what is kept under `key`. */
  stateDelete: (key: string) => Promise<void>
  /** Release everything (timers, connections). The adapter is not used afterwards. */
  close: () => Promise<void>
}
