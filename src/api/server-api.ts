/**
 * The server's verbs, written once: `fastify.realtime` IS this object (assemble.ts adds the
 * node-local members beside it) and the HTTP API's routes call it (routes.ts), so the same verb
 * has the same name, the same checks and the same scope in-process and over HTTP. Every verb here
 * reaches the whole cluster (every node sharing the adapter): what one node alone would see is
 * not what a caller asks when it says "broadcast" or "channels". The one node-local variant is
 * explicit: `broadcast(data, { local: true })`.
 */
import type { Publication, PresenceMember, RecentResult, SinceResult, StreamPosition } from '../adapters/adapter.js'
import type { ChannelService, PublicationDelivery } from '../channels/channel-service.js'
import { ControlKind } from '../cluster/kinds.js'
import type { ControlRouter } from '../cluster/router.js'
import type { UserService, DisconnectTarget } from '../users/user-service.js'
import { InvalidArgumentError, UnknownChannelError } from '../errors.js'

/** What one node reports of itself (`nodes()`, `GET <api>/nodes`). */
export interface NodeReport {
  nodeId: string
  /** Its open connections. */
  connections: number
  /** Its subscribers, by channel. */
  channels: Record<string, number>
  /** Epoch milliseconds. */
  startedAt: number
  uptimeMs: number
  /** Shutting down: it takes no new clients. */
  draining: boolean
}

/** A channel with subscribers, across every node (`channels()`, `GET <api>/channels`). */
export interface ChannelSummary {
  channel: string
  /** Subscriptions on every node together. */
  subscribers: number
  /** Nodes holding at least one of them. */
  nodes: number
}

/** One publication to make (`publish`'s arguments as an object, for `publishBatch`). */
export interface PublishItem {
  channel: string
  data: unknown
  idempotencyKey?: string | undefined
  /** The event name it carries (see {@link PublishCallOptions.event}). */
  event?: string | undefined
  /** A connection its delivery skips (see {@link PublishCallOptions.except}). */
  except?: string | undefined
}

/** Options of `publish`. */
export interface PublishCallOptions {
  /**
   * Makes a retry publish nothing: while the key is remembered for the channel
   * (`idempotencyTtlMs`), the same key with the same data answers the first publication
   * (`duplicate: true`); with other data it is refused (FRT_IDEMPOTENCY_KEY_REUSED). 1–128
   * printable ASCII characters. The in-process and the HTTP publish share one key space.
   */
  idempotencyKey?: string | undefined
  /** The event name the publication carries (a Pusher event name; kept in the history with it). */
  event?: string | undefined
  /**
   * The id of one connection that must not get it (Pusher's `socket_id`, Laravel's `toOthers()`):
   * skipped, its position still moved; everyone else gets the same frame.
   */
  except?: string | undefined
}

/** What `history` reads: after a position (recovery), or the newest. */
export interface HistoryCallOptions {
  /** After this position (offset and epoch); absent: the newest publications. */
  since?: StreamPosition | undefined
  /** Without `since`: how many of the newest, at most (1–10,000). @default 100 */
  limit?: number | undefined
}

/** The default of `history`'s `limit`, in-process and over HTTP. */
export const DEFAULT_HISTORY_LIMIT = 100
/** The largest `history` limit, in-process and over HTTP. */
export const MAX_HISTORY_LIMIT = 10_000
/** The longest idempotency key, in characters. */
export const MAX_IDEMPOTENCY_KEY_LENGTH = 128
/** What an idempotency key may be: 1–128 printable ASCII characters (the HTTP schema is made from it). */
export const IDEMPOTENCY_KEY_PATTERN = `^[\\x21-\\x7e]{1,${MAX_IDEMPOTENCY_KEY_LENGTH}}$`
const IDEMPOTENCY_KEY = new RegExp(IDEMPOTENCY_KEY_PATTERN)

/**
 * The verbs `fastify.realtime` and the HTTP API share (same names; the HTTP operationIds are
 * these names, `disconnect` being `disconnectUser` / `disconnectConnection` by its target).
 * Each reaches every node.
 */
export interface RealtimeApi {
  /**
   * Publish `data` on a declared channel (whatever its clientPublish setting): stamped with the
   * next offset, kept in the history, delivered to every subscriber on every node.
   * @returns the publication (offset, epoch, t); `duplicate: true` when the idempotency key was
   *   already used with the same data, and nothing was published
   * @throws FRT_UNKNOWN_CHANNEL when no declaration matches
   * @throws FRT_IDEMPOTENCY_KEY_REUSED when the key was used for other data on that channel
   * @throws FRT_INVALID_ARGUMENT for a malformed idempotency key
   */
  publish: (channel: string, data: unknown, options?: PublishCallOptions) => Promise<Publication>
  /**
   * Publish several, in order, as `publish` does each. All or none for their channels: if one
   * names an undeclared channel, nothing is published. A reused key stops the batch there (the
   * ones before it are published).
   */
  publishBatch: (publications: readonly PublishItem[]) => Promise<Publication[]>
  /**
   * A `broadcast` frame to every open socket of **every node**, subscribed or not.
   * @returns once it is on its way to every node
   */
  broadcast (data: unknown, options?: { local?: false }): Promise<void>
  /**
   * With `{ local: true }`: to the sockets of this node only, at once (no adapter round trip).
   * @returns how many sockets of this node it was sent to
   */
  broadcast (data: unknown, options: { local: true }): number
  /**
   * A channel's kept publications: what followed `since` (with whether that is exactly all of
   * it, `recovered`), or the newest `limit`.
   * @throws FRT_UNKNOWN_CHANNEL when no declaration matches
   */
  history: (channel: string, options?: HistoryCallOptions) => Promise<SinceResult | RecentResult>
  /** The channels with at least one subscriber on a live node, by name, summed over the nodes. */
  channels: () => Promise<ChannelSummary[]>
  /**
   * Who is in a channel, on any node: one entry per visitor.
   * @throws FRT_UNKNOWN_CHANNEL when no declaration matches
   */
  presence: (channel: string) => Promise<PresenceMember[]>
  /**
   * How many visitors are in a channel (the length of `presence(channel)`).
   * @throws FRT_UNKNOWN_CHANNEL when no declaration matches
   */
  presenceCount: (channel: string) => Promise<number>
  /** Every live node's report (this one's included), sorted by node id. */
  nodes: () => Promise<NodeReport[]>
  /**
   * Send `data` to every connection of a user (their visitor id: session or token `sub`) on every
   * node, once each, as a `direct` frame. Resolves once it is on its way (a user with no
   * connection anywhere gets nothing, and that is not an error).
   * @throws FRT_INVALID_ARGUMENT for an empty or overlong user id
   */
  sendToUser: (user: string, data: unknown) => Promise<void>
  /**
   * Subscribe every live connection of a user, on every node, to a declared channel (no grant or
   * canSubscribe: the server decides); each gets a `subscribed` frame, then every publication made
   * after this resolves, in order, with presence as for a client `sub`.
   * @throws FRT_UNKNOWN_CHANNEL when no declaration matches
   */
  subscribeUser: (user: string, channel: string) => Promise<void>
  /**
   * End a user's subscription to a channel on every live connection of theirs, on every node
   * (an `unsubscribed` frame each).
   * @throws FRT_UNKNOWN_CHANNEL when no declaration matches
   */
  unsubscribeUser: (user: string, channel: string) => Promise<void>
  /**
   * Close every connection of a user, or one connection by its id, on whichever node it is.
   * @param code - 1000 or 4000–4999 @default 4500 (terminal: the client does not reconnect)
   * @param reason - at most 123 bytes @default 'disconnected by the server'
   * @throws FRT_INVALID_ARGUMENT for a bad target or code
   */
  disconnect: (target: DisconnectTarget, code?: number, reason?: string) => Promise<void>
}

/** What the verbs are carried out with. */
export interface RealtimeApiParts {
  channels: ChannelService
  users: UserService
  /** Carries a cluster-wide broadcast to every node. */
  control: ControlRouter
  /** This node: its `broadcast` sends a `broadcast` frame to its own sockets (and returns how many). */
  node: { broadcast: (data: unknown) => number }
  /** Every live node's report. */
  nodeReports: { all: () => Promise<NodeReport[]> }
}

/** Idempotency keys of the server (in-process and HTTP), apart from clients' `pub` keys (`client:<visitor>:<key>`). */
const serverKey = (key: string): string => `api:${key}`

function checkKey (key: unknown): string {
  if (typeof key === 'string' && IDEMPOTENCY_KEY.test(key)) return key
  throw new InvalidArgumentError('idempotencyKey', `expected 1–${MAX_IDEMPOTENCY_KEY_LENGTH} printable ASCII characters, got ${JSON.stringify(key)}`)
}

function checkLimit (limit: unknown): number {
  if (limit === undefined) return DEFAULT_HISTORY_LIMIT
  if (typeof limit === 'number' && Number.isInteger(limit) && limit >= 1 && limit <= MAX_HISTORY_LIMIT) return limit
  throw new InvalidArgumentError('limit', `expected an integer from 1 to ${MAX_HISTORY_LIMIT}, got ${JSON.stringify(limit)}`)
}

/** The event name and exclusion of a publish, only those given. */
function deliveryOf (options: PublishCallOptions | undefined): PublicationDelivery {
  const delivery: PublicationDelivery = {}
  if (options?.event !== undefined) delivery.event = options.event
  if (options?.except !== undefined) delivery.except = options.except
  return delivery
}

/** Build the verbs (see the module comment); registers the broadcast's control handler. */
export function createRealtimeApi (parts: RealtimeApiParts): RealtimeApi {
  const { channels, users, control, node, nodeReports } = parts
  control.on(ControlKind.BROADCAST, (envelope) => { node.broadcast(envelope.body) })

  const publish = async (channel: string, data: unknown, options?: PublishCallOptions): Promise<Publication> => {
    const key = options?.idempotencyKey
    const delivery = deliveryOf(options)
    return key === undefined ? await channels.publish(channel, data, delivery) : await channels.publishOnce(channel, data, serverKey(checkKey(key)), delivery)
  }

  function broadcast (data: unknown, options?: { local?: false }): Promise<void>
  function broadcast (data: unknown, options: { local: true }): number
  function broadcast (data: unknown, options?: { local?: boolean }): Promise<void> | number {
    if (options?.local === true) return node.broadcast(data)
    return control.send(ControlKind.BROADCAST, data)
  }

  return {
    publish,
    publishBatch: async (publications) => {
      // All or none: an undeclared channel (or a malformed key) refuses the whole batch before anything is published.
      for (const item of publications) {
        if (!channels.isDeclared(item.channel)) throw new UnknownChannelError(item.channel)
        if (item.idempotencyKey !== undefined) checkKey(item.idempotencyKey)
      }
      const published: Publication[] = []
      for (const item of publications) published.push(await publish(item.channel, item.data, item))
      return published
    },
    broadcast,
    history: async (channel, options) => {
      const limit = checkLimit(options?.limit)
      const since = options?.since
      return await channels.history(channel, since === undefined ? { limit } : { since, limit })
    },
    channels: async () => {
      const totals = new Map<string, ChannelSummary>()
      for (const report of await nodeReports.all()) {
        for (const [channel, subscribers] of Object.entries(report.channels)) {
          const total = totals.get(channel) ?? { channel, subscribers: 0, nodes: 0 }
          total.subscribers += subscribers
          total.nodes++
          totals.set(channel, total)
        }
      }
      return [...totals.values()].sort((a, b) => a.channel.localeCompare(b.channel))
    },
    presence: async (channel) => await channels.presence(channel),
    presenceCount: async (channel) => (await channels.presence(channel)).length,
    nodes: async () => await nodeReports.all(),
    sendToUser: async (user, data) => { await users.sendToUser(user, data) },
    subscribeUser: async (user, channel) => { await users.subscribeUser(user, channel) },
    unsubscribeUser: async (user, channel) => { await users.unsubscribeUser(user, channel) },
    disconnect: async (target, code, reason) => { await users.disconnect(target, code, reason) }
  }
}
