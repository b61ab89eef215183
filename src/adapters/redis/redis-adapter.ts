/**
 * The Redis adapter: publications, history and presence shared by every node through Redis
 * (ioredis), the same contract as the memory adapter.
 *
 * - Publish is one Lua script: next offset (HINCRBY), epoch (kept in Redis; a lost key means a new
 *   epoch), history append to a capped Stream with a TTL, and PUBLISH to the channel's pub/sub
 *   channel, atomically. Every node, the publisher included, delivers from that pub/sub message, so
 *   all nodes see one order per channel and nobody delivers a publication twice.
 * - Separate publisher and subscriber connections (a subscribed connection cannot run commands),
 *   as socket.io-redis-adapter does. A node subscribes only to channels with local subscribers.
 * - Nothing is skipped silently. A gap in what reaches this node (an offset jump or another epoch
 *   in a live message, a subscriber connection that comes back, a position check that finds a
 *   channel behind) holds the channel's live messages, reads what it missed from the history,
 *   delivers it in order and then what was held (`#recoverChannels`). What the history no longer
 *   holds, a lost history (new epoch) and a forked one (a promoted replica that lacks what this
 *   node delivered: the stream is moved to a new epoch) are told to the node (`onGap`), which
 *   tells its subscribers `recovered: false`.
 * - Every `positionCheckIntervalMs`, the node reads the position of each channel it follows (one
 *   single-key command each), so a quiet channel that lost its last publication is recovered too.
 * - Presence entries carry an expiry refreshed by their node; any node's sweeper removes expired
 *   ones atomically and announces the leave once, so a node that died vanishes within the TTL.
 * - On a Redis Cluster (a `cluster` option or a `Cluster` client) the same scripts run with
 *   SPUBLISH to a shard channel in the slot of the channel's keys, nodes subscribe with
 *   SSUBSCRIBE, scripts are sent with EVAL (no per-master script cache to lose in a failover), and
 *   a shard whose subscription ioredis re-made after a failover or a migration has its channels
 *   recovered from the history (see shard-watch.ts).
 */
import { randomBytes } from 'node:crypto'
import { Cluster, type Redis } from 'ioredis'
import { AdapterUnavailableError, IdempotencyKeyReusedError, InvalidOptionError } from '../../errors.js'
import type { AdapterHandler, RealtimeAdapter } from '../adapter.js'
import { publicationExtras, type AdapterSettings, type ControlMessage, type GapCause, type Publication, type PublishOptions, type RecentResult, type SinceResult, type StreamPosition } from '../broker.js'
import type { PresenceEntry, PresenceMember } from '../presence.js'
import type { LifecycleEvent } from '../state.js'
import { publishFingerprint } from '../fingerprint.js'
import { decodeMember, decodePubsub, decodeStoredData, encodeMemberLabel, encodeStoredData } from './codec.js'
import {
  closeRedisConnection, clusterAddress, createRedisClusterConnection, createRedisConnection, duplicateRedisClusterConnection, duplicateRedisConnection,
  redisAddress, redisClientAddress, type RedisClusterConfig, type RedisConnection, type RedisRole
} from './connection.js'
import { channelKeys, channelOfPubsub, controlChannel, idempotencyKey, stateKey, sweepRegistry, type ChannelKeys, type KeyLayout } from './keys.js'
import { evalScript, luaScript, runScript, type LuaScript } from './script-runner.js'
import { ShardWatch } from './shard-watch.js'
import { NEW_EPOCH_LUA, OCCUPY_LUA, PRESENCE_ADD_LUA, PRESENCE_REMOVE_LUA, PUBLISH_LUA, READ_LUA, VACATE_LUA } from './scripts.js'

/**
 * Options of {@link RedisAdapter}: where Redis is, as exactly one of `url`, `cluster`, `client` or
 * `createClient`, and how the adapter uses it.
 *
 * Ownership: the adapter closes the connections it opened (from `url`, `client.duplicate()` or
 * `createClient`) when the node closes, and never closes a client it was given: a `client` passed
 * in is only duplicated, and stays the application's to `quit()`.
 */
export interface RedisAdapterOptions {
  /** `redis://[user:password@]host:port[/db]`: the adapter opens its connections to it. */
  url?: string
  /**
   * An ioredis client (e.g. one configured for Sentinel: `new Redis({ sentinels, name })`). The
   * adapter needs two connections (a subscribed one cannot run commands), so it opens both with
   * `client.duplicate()`: same servers and settings, its own retry and offline-queue behaviour.
   * The client itself is not used for commands and not closed by the adapter.
   */
  client?: Redis | Cluster
  /**
   * A Redis Cluster: some of its nodes and the ioredis Cluster options. The adapter opens two
   * Cluster connections (a publisher, and a subscriber with `shardedSubscribers: true`) and uses
   * the Cluster key layout: every key and the shard channel of a realtime channel in one slot,
   * SPUBLISH/SSUBSCRIBE. A `Cluster` given as `client` does the same through `client.duplicate()`.
   *
   * ```ts
   * new RedisAdapter({ cluster: { nodes: [{ host: '10.0.0.1', port: 7000 }], options: { redisOptions: { password } } } })
   * ```
   */
  cluster?: RedisClusterConfig
  /**
   * Makes a new ioredis connection each call (once for the publisher, once for the subscriber);
   * for setups `duplicate()` does not fit. The adapter owns what it returns and quits it on close;
   * return a new connection each time, never a shared one.
   */
  createClient?: (role: 'publisher' | 'subscriber') => RedisConnection
  /** Prefix of every key and pub/sub channel, so several apps can share one Redis. @default 'rt:' */
  keyPrefix?: string
  /** This node's id (in pub/sub messages and client names). @default random */
  nodeId?: string
  /** A channel's offset and epoch are forgotten after this long without a publish (new epoch after). @default 604800000 (7 days) */
  streamIdleTtlMs?: number
  /** How often this node sweeps expired presence entries and dead nodes' occupancy (of any channel due), in ms. @default 1000 */
  presenceSweepIntervalMs?: number
  /**
   * How long `init` waits for Redis before failing boot with FRT_ADAPTER_UNAVAILABLE, in ms. Short
   * by default so that a wrong address fails fast, and within Fastify's plugin timeout (10 s). On a
   * Cluster, also how long a command may wait for masters that all went away before it is refused.
   * @default 3000
   */
  connectTimeoutMs?: number
  /**
   * How often this node checks the position of every channel it follows, in ms (0: never). A
   * publication whose pub/sub message was lost on a channel that then stays quiet shows no offset
   * jump: the check finds the channel behind and delivers what it missed from the history (or
   * tells its subscribers `recovered: false`). Per node, not per client: one single-key command
   * per followed channel and check (docs/operations.md has its cost).
   * @default 5000
   */
  positionCheckIntervalMs?: number
}

const SCRIPTS = {
  publish: luaScript(PUBLISH_LUA),
  read: luaScript(READ_LUA),
  presenceAdd: luaScript(PRESENCE_ADD_LUA),
  presenceRemove: luaScript(PRESENCE_REMOVE_LUA),
  occupy: luaScript(OCCUPY_LUA),
  vacate: luaScript(VACATE_LUA),
  newEpoch: luaScript(NEW_EPOCH_LUA)
}

type ScriptName = keyof typeof SCRIPTS

/**
 * The same scripts for a Redis Cluster: SPUBLISH to the channel's shard channel (passed in ARGV,
 * in the slot of the script's keys) in place of PUBLISH, which a cluster would broadcast to every
 * node over its bus.
 */
const CLUSTER_SCRIPTS = Object.fromEntries(Object.entries(SCRIPTS).map(([name, script]) => [
  name, luaScript(script.lua.replaceAll("redis.call('PUBLISH', ", "redis.call('SPUBLISH', "))
])) as Record<ScriptName, LuaScript>

/** The plugin's default `presenceTtlMs`: the occupancy TTL of an adapter initialised without settings. */
const DEFAULT_PRESENCE_TTL_MS = 30_000

/** Channels a sweep looks at in one round, at most. */
const SWEEP_BATCH = 64

/** Positions a position check has in flight at once, at most (its reads are single-key commands, so a cluster routes each). */
const CHECK_BATCH = 512

/** How long a recovery whose read failed waits before it tries again (the channel's live messages wait meanwhile). */
const RECOVERY_RETRY_MS = 1000

/** What this node knows of a channel it subscribes to. */
interface ChannelState {
  keys: ChannelKeys
  /** The last publication delivered (or the position when subscribing, or after a gap). */
  last: StreamPosition | null
  /**
   * The server time `t` of the publication at `last`, which tells it from another one with the same
   * offset (a fork); 0 when unknown.
   */
  lastT: number
  /** While the channel is held (subscribing, recovering a gap), live messages wait here. */
  buffer: Publication[] | null
  /** The recovery running for this channel. */
  recovering: Promise<void> | null
  /** Another recovery was asked for while one ran: it reads once more before it lets go. */
  again: boolean
  /**
   * The live publication at the last offset delivered, with another time, that last started a
   * recovery (`<epoch>:<offset>:<t>`): held again afterwards, it is dropped, not looked into again.
   */
  suspect: string | null
}

/** What a read of a stream found: its position, the publications read, and the meta's newest publication. */
interface StreamRead extends RecentResult {
  /** The newest publication's offset and time as the meta names it (null: not named). */
  newest: { offset: number, t: number } | null
}

type StreamEntry = [id: string, fields: string[]]

function newEpoch (): string {
  return randomBytes(6).toString('base64url')
}

function fieldOf (fields: string[], name: string): string | undefined {
  for (let i = 0; i < fields.length - 1; i += 2) if (fields[i] === name) return fields[i + 1]
  return undefined
}

function toPublication (channel: string, epoch: string, [id, fields]: StreamEntry): Publication {
  const { data, extras } = decodeStoredData(fieldOf(fields, 'd') ?? 'null')
  return {
    channel,
    offset: Number(id.split('-')[0]),
    epoch,
    t: Number(fieldOf(fields, 't')),
    data,
    ...extras
  }
}

/** The meta's `last` field (`<offset> <t>`), or null when absent or unreadable. */
function newestOf (last: string | null | undefined): { offset: number, t: number } | null {
  const match = /^(\d+) (\d+)$/.exec(last ?? '')
  return match === null ? null : { offset: Number(match[1]), t: Number(match[2]) }
}

/**
 * Whether a followed channel is behind, from its meta's `offset`, `epoch` and `last` (HMGET): in
 * another epoch, at another offset (ahead, or back: a fork), or with another publication at the
 * offset this node delivered last (a fork). A stream whose meta is gone has nothing to deliver.
 */
function isBehind (state: ChannelState, [offset, epoch, last]: Array<string | null>): boolean {
  if (state.last === null || epoch === null || epoch === undefined) return false
  if (epoch !== state.last.epoch || Number(offset) !== state.last.offset) return true
  const newest = newestOf(last)
  return state.lastT !== 0 && newest !== null && newest.offset === state.last.offset && newest.t !== state.lastT
}

/**
 * The position check's interval, checked.
 * @throws InvalidOptionError (FRT_INVALID_OPTION) when it is not a whole number of ms, 0 or more
 */
function checkInterval (value: number | undefined): number {
  if (value === undefined) return 5000
  if (!Number.isSafeInteger(value) || value < 0) throw new InvalidOptionError('RedisAdapter.positionCheckIntervalMs', `expected a whole number of milliseconds, 0 (off) or more, got ${String(value)}`)
  return value
}

/**
 * Wait until `redis` is ready.
 * @param failure - the error to reject with when it is not ready within `timeoutMs`
 */
async function waitReady (redis: RedisConnection, timeoutMs: number, failure: () => Error): Promise<void> {
  if (redis.status === 'ready') return
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { redis.off('ready', onReady); reject(failure()) }, timeoutMs)
    const onReady = (): void => { clearTimeout(timer); resolve() }
    redis.once('ready', onReady)
  })
}

/** Publications, history and presence in Redis; see the module comment. */
export class RedisAdapter implements RealtimeAdapter {
  readonly name = 'redis'
  readonly nodeId: string
  /** Opens one of the adapter's own connections (it owns and closes them). */
  readonly #connect: (role: 'publisher' | 'subscriber') => RedisConnection
  readonly #prefix: string
  readonly #streamIdleTtlMs: number
  readonly #sweepIntervalMs: number
  readonly #connectTimeoutMs: number
  readonly #positionCheckIntervalMs: number
  /**
   * How long this node's mark on a channel it has subscribers in outlives its last refresh (it is
   * refreshed every third of it): the plugin's `presenceTtlMs`, given at `init`, so a channel a dead
   * node held is vacated within the same time as its visitors leave.
   */
  #occupancyTtlMs = DEFAULT_PRESENCE_TTL_MS
  /** Refreshes this node's occupancy marks every third of their TTL, whatever the sweep interval. */
  #occupancyRefresher: ReturnType<typeof setInterval> | null = null
  readonly #channels = new Map<string, ChannelState>()
  /** `host:port[/db]`: what logs and errors name (never the URL's credentials). */
  readonly #address: string
  /** The last error of each connection since it was last ready: the cause a report names. */
  readonly #lastErrors = new Map<RedisRole, Error>()
  /** Connections lost after `init` succeeded, until they are ready again. */
  readonly #lost = new Set<RedisRole>()
  #pub: RedisConnection | null = null
  #sub: RedisConnection | null = null
  /** Which names and commands: one Redis, or a Cluster (decided at `init` from the connections). */
  #layout: KeyLayout = 'single'
  /** On a Cluster: which shard served each subscribed channel, to recover those a failover cut off. */
  #shards: ShardWatch | null = null
  #handler: AdapterHandler | null = null
  #sweeper: ReturnType<typeof setInterval> | null = null
  #positionChecker: ReturnType<typeof setInterval> | null = null
  /** Set while a position check runs: the next tick skips rather than pile up. */
  #checking = false
  /** Set once `init` has connected both: only then is a closed connection "lost". */
  #started = false

  constructor (options: RedisAdapterOptions) {
    this.nodeId = options.nodeId ?? randomBytes(6).toString('base64url')
    this.#connect = connector(options, this.nodeId)
    this.#prefix = options.keyPrefix ?? 'rt:'
    this.#streamIdleTtlMs = options.streamIdleTtlMs ?? 7 * 24 * 60 * 60 * 1000
    this.#sweepIntervalMs = options.presenceSweepIntervalMs ?? 1000
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 3000
    this.#positionCheckIntervalMs = checkInterval(options.positionCheckIntervalMs)
    this.#address = options.url !== undefined
      ? redisAddress(options.url)
      : options.cluster !== undefined ? clusterAddress(options.cluster.nodes) : options.client !== undefined ? redisClientAddress(options.client) : 'the createClient connections'
  }

  /** Whether both connections are up (for readiness probes). */
  get connected (): boolean {
    return this.#pub?.status === 'ready' && this.#sub?.status === 'ready'
  }

  async init (handler: AdapterHandler, settings?: AdapterSettings): Promise<void> {
    this.#handler = handler
    if (settings !== undefined) this.#occupancyTtlMs = settings.presenceTtlMs
    const pub = this.#connect('publisher')
    const sub = this.#connect('subscriber')
    this.#pub = pub
    this.#sub = sub
    this.#watch(pub, 'publisher')
    this.#watch(sub, 'subscriber')
    if ((pub instanceof Cluster) !== (sub instanceof Cluster)) {
      await this.close()
      throw new InvalidOptionError('RedisAdapter.createClient', 'return the same kind of connection for both roles (two Redis, or two Cluster)')
    }
    this.#layout = sub instanceof Cluster ? 'cluster' : 'single'
    if (pub instanceof Cluster) {
      // EVAL only (script-runner.ts says why): nothing to load, on any master, ever.
    } else {
      // Load the scripts whenever the publisher (re)connects: an EVALSHA that misses and falls back
      // to EVAL would overtake later calls and reorder concurrent publishes of one channel.
      pub.on('ready', () => { this.#loadScripts(pub).catch((err: unknown) => { this.#report(err, 'script load') }) })
    }
    sub.on('ready', () => {
      if (!this.#started) return
      this.#afterReconnect().catch((err: unknown) => { this.#report(err, 'recover') })
    })
    if (sub instanceof Cluster) {
      sub.on('smessage', (pubsub: string, text: string) => { this.#onMessage(pubsub, text) })
      this.#shards = new ShardWatch(sub, {
        hold: (channels) => { this.#hold(channels) },
        recover: async (channels, reason) => { await this.#recoverShard(sub, channels, reason) }
      })
    } else {
      sub.on('message', (pubsub: string, text: string) => { this.#onMessage(pubsub, text) })
    }
    try {
      await Promise.all([
        waitReady(pub, this.#connectTimeoutMs, () => this.#unreachable('publisher')),
        waitReady(sub, this.#connectTimeoutMs, () => this.#unreachable('subscriber'))
      ])
      if (!(pub instanceof Cluster)) await this.#loadScripts(pub)
      // Every node listens to the control channel for its whole life (ioredis resubscribes on reconnect).
      await this.#subscribePubsub(controlChannel(this.#prefix))
    } catch (err) {
      await this.close()
      throw err
    }
    this.#started = true
    this.#sweeper = setInterval(() => { this.#sweep() }, this.#sweepIntervalMs)
    this.#sweeper.unref()
    // Its own timer: a TTL shorter than three sweep intervals must still be refreshed in time.
    this.#occupancyRefresher = setInterval(() => { this.#refreshOccupancy() }, Math.max(1, Math.floor(this.#occupancyTtlMs / 3)))
    this.#occupancyRefresher.unref()
    if (this.#positionCheckIntervalMs > 0) {
      this.#positionChecker = setInterval(() => { this.#checkPositions().catch((err: unknown) => { this.#report(err, 'position check') }) }, this.#positionCheckIntervalMs)
      this.#positionChecker.unref()
    }
  }

  /**
   * Follow one connection's state. ioredis emits `error` on every failed reconnect attempt: keep
   * the last as the cause, and report the changes (lost, restored) rather than each retry.
   */
  #watch (redis: RedisConnection, role: RedisRole): void {
    redis.on('error', (err: Error) => { this.#lastErrors.set(role, err) })
    redis.on('close', () => {
      if (!this.#started || this.#pub === null || this.#lost.has(role)) return
      this.#lost.add(role)
      const cause = this.#lastErrors.get(role)
      this.#report(new Error(`Redis ${role} connection to ${this.#address} lost${cause === undefined ? '' : ` (${cause.message})`}; reconnecting`), 'connection')
    })
    redis.on('ready', () => {
      this.#lastErrors.delete(role)
      if (this.#lost.delete(role)) this.#handler?.onRestored?.(`Redis ${role} connection to ${this.#address}`)
    })
  }

  /** Why `init` gave up on a connection: the address and the last error seen. */
  #unreachable (role: RedisRole): Error {
    const cause = this.#lastErrors.get(role)?.message ?? 'no answer'
    return new AdapterUnavailableError(`Redis at ${this.#address}`, `${cause} (gave up after ${this.#connectTimeoutMs} ms; the RedisAdapter's connectTimeoutMs sets how long to wait)`)
  }

  async publish (channel: string, data: unknown, options: PublishOptions): Promise<Publication> {
    const keys = this.#keys(channel)
    const t = Date.now()
    const ttlMs = Math.max(1, options.historyTtlMs)
    const key = options.idempotencyKey
    const result = await this.#run('publish', [keys.meta, keys.history, key === undefined ? keys.meta : idempotencyKey(keys, key)], [
      newEpoch(), encodeStoredData(data, publicationExtras(options)), t, options.historySize, ttlMs,
      Math.max(this.#streamIdleTtlMs, ttlMs), keys.pubsub, this.nodeId,
      key === undefined ? '' : Math.max(1, options.idempotencyTtlMs ?? 0),
      // Stored beside the position, space-separated: a caller's own fingerprint is hashed to a token without spaces.
      key === undefined ? '' : publishFingerprint(channel, options.idempotencyFingerprint ?? data)
    ]) as [number, string, string, number]
    if (result[3] === 2) throw new IdempotencyKeyReusedError()
    const publication: Publication = { channel, offset: Number(result[0]), epoch: result[1], data: data ?? null, t: Number(result[2]), ...publicationExtras(options) }
    if (result[3] === 1) publication.duplicate = true
    return publication
  }

  async subscribe (channel: string): Promise<void> {
    if (this.#channels.has(channel)) return
    const state: ChannelState = { keys: this.#keys(channel), last: null, lastT: 0, buffer: [], recovering: null, again: false, suspect: null }
    this.#channels.set(channel, state)
    try {
      await this.#subscribePubsub(state.keys.pubsub)
      this.#shards?.track(channel, state.keys.pubsub)
      // Know where we start (and what the newest publication is), so a gap can be read, and a
      // fork told, even before the first delivery.
      const { position, newest } = await this.#read(channel, -1, 0)
      if (state.last === null) {
        state.last = position
        state.lastT = newest?.offset === position.offset ? newest.t : 0
      }
    } catch (err) {
      this.#channels.delete(channel)
      throw err
    }
    this.#flush(channel, state)
    await this.#occupy(channel, state.keys)
  }

  async unsubscribe (channel: string): Promise<void> {
    const state = this.#channels.get(channel)
    if (state === undefined) return
    this.#channels.delete(channel)
    this.#shards?.untrack(channel)
    const sub = this.#subscriber()
    await (sub instanceof Cluster ? sub.sunsubscribe(state.keys.pubsub) : sub.unsubscribe(state.keys.pubsub))
    const [vacated, next] = await this.#run('vacate', presenceKeys(state.keys), [this.nodeId]) as [number, number]
    await this.#scheduleSweep(channel, next)
    if (vacated === 1) this.#lifecycle({ type: 'channel.vacated', channel })
  }

  async since (channel: string, position: StreamPosition): Promise<SinceResult> {
    let read = await this.#read(channel, position.offset, 0)
    // Another epoch, or a position ahead of this stream: not recoverable, so the whole retained
    // window is returned (as for any gap that is not recovered).
    if (read.position.epoch !== position.epoch || position.offset > read.position.offset) read = await this.#read(channel, 0, 0)
    const { publications } = read
    const top = read.position.offset
    const sameEpoch = read.position.epoch === position.epoch
    const complete = position.offset === top || (publications[0]?.offset === position.offset + 1 && publications.at(-1)?.offset === top)
    return { position: read.position, recovered: sameEpoch && position.offset <= top && complete, publications }
  }

  async recent (channel: string, limit: number): Promise<RecentResult> {
    const { position, publications } = await this.#read(channel, -1, limit)
    return { position, publications }
  }

  async presenceAdd (channel: string, entry: PresenceEntry, ttlMs: number): Promise<void> {
    const keys = this.#keys(channel)
    const label = encodeMemberLabel(entry.name, entry.info)
    const [change, next] = await this.#run('presenceAdd', presenceKeys(keys), [
      entry.clientId, entry.visitorId, label ?? '', label === undefined ? '0' : '1',
      Date.now() + ttlMs, Math.max(ttlMs * 3, 60_000), keys.pubsub
    ]) as [number, number]
    await this.#scheduleSweep(channel, next)
    if (change === 1) this.#lifecycle({ type: 'presence.join', channel, member: decodeMember(entry.visitorId, label) })
  }

  async presenceRemove (channel: string, clientId: string): Promise<void> {
    await this.#removePresence(channel, this.#keys(channel), ['', clientId])
  }

  async presence (channel: string): Promise<PresenceMember[]> {
    const keys = this.#keys(channel)
    const pub = this.#publisher()
    await this.#removePresence(channel, keys, [String(Date.now())])
    const [counts, names] = await this.#bounded(Promise.all([pub.hgetall(keys.presenceCounts), pub.hgetall(keys.presenceNames)]))
    return Object.keys(counts)
      .filter((id) => Number(counts[id]) > 0)
      .sort()
      .map((id) => decodeMember(id, names[id]))
  }

  async control (message: ControlMessage): Promise<void> {
    const pub = this.#publisher()
    const text = JSON.stringify(message)
    await this.#bounded(pub instanceof Cluster ? pub.spublish(controlChannel(this.#prefix), text) : pub.publish(controlChannel(this.#prefix), text))
  }

  async stateSet (key: string, value: unknown, ttlMs: number): Promise<void> {
    await this.#bounded(this.#publisher().set(stateKey(this.#prefix, key), JSON.stringify(value ?? null), 'PX', Math.max(1, ttlMs)))
  }

  async stateClaim (key: string, value: unknown, ttlMs: number): Promise<boolean> {
    // SET NX is atomic: of several nodes claiming the same key, exactly one gets OK.
    return await this.#bounded(this.#publisher().set(stateKey(this.#prefix, key), JSON.stringify(value ?? null), 'PX', Math.max(1, ttlMs), 'NX')) === 'OK'
  }

  async stateGet (key: string): Promise<unknown> {
    const json = await this.#bounded(this.#publisher().get(stateKey(this.#prefix, key)))
    return json === null ? undefined : JSON.parse(json) as unknown
  }

  async stateDelete (key: string): Promise<void> {
    await this.#bounded(this.#publisher().del(stateKey(this.#prefix, key)))
  }

  /** Release the timers and quit the two connections the adapter opened (never a client it was given). */
  async close (): Promise<void> {
    if (this.#sweeper !== null) clearInterval(this.#sweeper)
    this.#sweeper = null
    if (this.#positionChecker !== null) clearInterval(this.#positionChecker)
    this.#positionChecker = null
    if (this.#occupancyRefresher !== null) clearInterval(this.#occupancyRefresher)
    this.#occupancyRefresher = null
    this.#channels.clear()
    this.#shards?.stop()
    this.#shards = null
    const connections = [this.#pub, this.#sub]
    this.#pub = null
    this.#sub = null
    await Promise.all(connections.map(async (redis) => { if (redis !== null) await closeRedisConnection(redis) }))
  }

  async #loadScripts (pub: Redis): Promise<void> {
    await Promise.all(Object.values(SCRIPTS).map(async (script) => await pub.script('LOAD', script.lua)))
  }

  #publisher (): RedisConnection {
    if (this.#pub === null) throw new Error('RedisAdapter used before init() or after close()')
    // A Cluster queues commands while it is not ready (see connection.ts): refuse them at once
    // instead, as the single-Redis publisher (no offline queue) does.
    if (this.#pub instanceof Cluster && this.#pub.status !== 'ready' && this.#started) {
      throw new Error(`Redis Cluster at ${this.#address} is not reachable (status ${this.#pub.status}); reconnecting`)
    }
    return this.#pub
  }

  #subscriber (): RedisConnection {
    if (this.#sub === null) throw new Error('RedisAdapter used before init() or after close()')
    return this.#sub
  }

  /** The keys and pub/sub channel of `channel` in this deployment's layout. */
  #keys (channel: string): ChannelKeys {
    return channelKeys(this.#prefix, channel, this.#layout)
  }

  /** Run one of the scripts: by SHA1 on one Redis, by body (and with SPUBLISH) on a Cluster. */
  async #run (name: ScriptName, keys: string[], args: Array<string | number>): Promise<unknown> {
    const pub = this.#publisher()
    return this.#layout === 'cluster' ? await this.#bounded(evalScript(pub, CLUSTER_SCRIPTS[name], keys, args)) : await runScript(pub, SCRIPTS[name], keys, args)
  }

  /**
   * On a Cluster, a command sent just as every master went away waits in ioredis's offline queue
   * until the cluster is back (the queue cannot be turned off: see connection.ts); refuse it after
   * `connectTimeoutMs` instead, as one Redis refuses at once. (It may still run when the cluster
   * returns: like any timeout, the refusal says "not known to have happened", and a publish retried
   * with an idempotency key happens once.) On one Redis, nothing changes.
   */
  async #bounded<T> (command: Promise<T>): Promise<T> {
    if (this.#layout !== 'cluster') return await command
    let timer: ReturnType<typeof setTimeout> | undefined
    const deadline = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => { reject(new Error(`Redis Cluster at ${this.#address} did not answer within ${this.#connectTimeoutMs} ms (the RedisAdapter's connectTimeoutMs); reconnecting`)) }, this.#connectTimeoutMs)
    })
    try {
      return await Promise.race([command, deadline])
    } finally {
      clearTimeout(timer)
    }
  }

  /** Subscribe to a pub/sub channel: SUBSCRIBE on one Redis, SSUBSCRIBE (its own, single-slot) on a Cluster. */
  async #subscribePubsub (...pubsubs: string[]): Promise<void> {
    const sub = this.#subscriber()
    if (sub instanceof Cluster) await Promise.all(pubsubs.map(async (pubsub) => await sub.ssubscribe(pubsub)))
    else if (pubsubs.length > 0) await sub.subscribe(...pubsubs)
  }

  async #read (channel: string, fromOffset: number, count: number): Promise<StreamRead> {
    const keys = this.#keys(channel)
    const [offset, epoch, ttl, entries, last] = await this.#run('read', [keys.meta, keys.history], [
      newEpoch(), fromOffset, count, this.#streamIdleTtlMs
    ]) as [number, string, string, StreamEntry[], string | undefined]
    const ordered = fromOffset < 0 ? [...entries].reverse() : entries
    // Stream entries cannot expire one by one: drop those older than the history TTL on read.
    const oldest = Date.now() - Number(ttl)
    const publications = ordered.map((entry) => toPublication(channel, epoch, entry)).filter((publication) => publication.t >= oldest)
    return { position: { offset: Number(offset), epoch }, publications, newest: newestOf(last) }
  }

  #onMessage (pubsub: string, text: string): void {
    if (pubsub === controlChannel(this.#prefix)) {
      this.#onControl(text)
      return
    }
    const channel = channelOfPubsub(this.#prefix, pubsub, this.#layout)
    const state = channel === null ? undefined : this.#channels.get(channel)
    if (channel === null || state === undefined) return
    let message
    try {
      message = decodePubsub(channel, text)
    } catch (err) {
      this.#report(err, 'decode')
      return
    }
    if (message === null) {
      this.#report(new Error(`malformed pub/sub message on ${pubsub}`), 'decode')
    } else if (message.kind === 'presence') {
      this.#handler?.onPresence({ channel, action: message.action, member: message.member })
    } else if (state.buffer !== null) {
      state.buffer.push(message.publication)
    } else {
      this.#deliver(channel, state, message.publication)
    }
  }

  #onControl (text: string): void {
    let message: unknown
    try {
      message = JSON.parse(text)
    } catch (err) {
      this.#report(err, 'decode')
      return
    }
    if (typeof message !== 'object' || message === null || typeof (message as { kind?: unknown }).kind !== 'string') {
      this.#report(new Error('malformed control message'), 'decode')
      return
    }
    this.#handler?.onControl?.(message as ControlMessage)
  }

  /**
   * A live publication (or one held meanwhile): handed to the node when it is the next one,
   * dropped when it was delivered already (from the history), and held when a gap comes before
   * it (another offset in the same epoch, or another epoch), while the gap is recovered. A live
   * one at an offset delivered already is checked too: another publication at the last offset
   * (another time), or an older offset outside a recovery, is what a fork looks like (a promoted
   * replica reusing offsets), so the stream is read again rather than the publication dropped.
   * @param held - it was held during a recovery (so an older offset is the expected duplicate)
   * @returns false when it is held: what follows it must wait too
   */
  #deliver (channel: string, state: ChannelState, publication: Publication, held = false): boolean {
    const last = state.last
    if (last !== null) {
      const sameEpoch = last.epoch === publication.epoch
      let gap = !sameEpoch || publication.offset > last.offset + 1
      if (sameEpoch && publication.offset <= last.offset) {
        let reused = !held
        if (publication.offset === last.offset) {
          const suspect = `${publication.epoch}:${publication.offset}:${publication.t}`
          // Once looked into (the recovery it started could not tell a fork), it is a duplicate.
          reused = state.lastT !== 0 && publication.t !== state.lastT && state.suspect !== suspect
          if (reused) state.suspect = suspect
        }
        // After a gap was filled from the history, the same publications may still arrive live.
        if (!reused) return true
        gap = true
      }
      if (gap) {
        state.buffer = [publication]
        this.#recover(channel, state, 'gap').catch((err: unknown) => { this.#report(err, 'recover') })
        return false
      }
    }
    this.#handOver(state, publication)
    return true
  }

  /** Hand a publication that is next for this node to it. */
  #handOver (state: ChannelState, publication: Publication): void {
    state.last = { offset: publication.offset, epoch: publication.epoch }
    state.lastT = publication.t
    this.#handler?.onPublication(publication)
  }

  /**
   * Let go of what a channel held, in order. After a recovery that read the stream in `epoch`,
   * held publications of another epoch are dropped: the stream had left theirs when it was read
   * (or entered a newer one after: the next live message or position check recovers that one).
   */
  #flush (channel: string, state: ChannelState, epoch?: string): void {
    const held = state.buffer ?? []
    state.buffer = null
    for (let i = 0; i < held.length; i++) {
      const publication = held[i] as Publication
      if (epoch !== undefined && publication.epoch !== epoch) continue
      if (!this.#deliver(channel, state, publication, true)) {
        // A gap before it: it and what followed it wait for that recovery.
        this.#holdToo(state, held.slice(i + 1))
        return
      }
    }
  }

  /** Add publications to what a channel holds (after the one that started its recovery). */
  #holdToo (state: ChannelState, publications: Publication[]): void {
    state.buffer?.push(...publications)
  }

  /** Hold the live messages of these channels (those past their subscribe) until a recovery lets go of them. */
  #hold (channels: Iterable<string>): void {
    for (const channel of channels) {
      const state = this.#channels.get(channel)
      if (state !== undefined && state.last !== null) state.buffer ??= []
    }
  }

  /**
   * Recover what these followed channels missed: hold their live messages, read from the history
   * what came after the last publication each delivered, deliver it in order, then what was held.
   * What the history cannot give (trimmed, a new epoch, a fork) is told through `onGap`, and the
   * channel goes on from there. One recovery per channel at a time: asked again while one runs,
   * it reads once more before it lets go. Channels still subscribing (their subscribe reads their
   * start) and channels not followed are skipped.
   * @param reason - what found the gap (`gap`, `reconnect`, `position check`…), for errors and logs
   * @returns settles once every channel's recovery has let go of its held messages (or waits to retry)
   */
  async #recoverChannels (channels: Iterable<string>, reason: string): Promise<void> {
    const runs: Array<Promise<void>> = []
    for (const channel of channels) {
      const state = this.#channels.get(channel)
      if (state === undefined || state.last === null) continue
      state.buffer ??= []
      runs.push(this.#recover(channel, state, reason))
    }
    await Promise.all(runs)
  }

  /** One channel's recovery (see {@link #recoverChannels}); its live messages are held already. */
  async #recover (channel: string, state: ChannelState, reason: string): Promise<void> {
    if (state.recovering !== null) {
      state.again = true
      await state.recovering
      return
    }
    const run = (async () => {
      let epoch: string | undefined
      try {
        do {
          state.again = false
          epoch = await this.#fillGap(channel, state)
        } while (state.again && this.#channels.get(channel) === state)
      } catch (err) {
        // Keep holding: a flush now would only find the same gap again. Try again in a while.
        this.#report(err, `recover (${reason})`)
        state.recovering = null
        this.#retryRecovery(channel, reason)
        return
      }
      state.recovering = null
      if (this.#channels.get(channel) === state) this.#flush(channel, state, epoch)
    })()
    state.recovering = run
    await run
  }

  /**
   * Recover a channel again in a while (its recovery failed; its live messages wait meanwhile),
   * once the publisher connection is ready: while Redis is away, nothing is tried (or reported)
   * again and again.
   */
  #retryRecovery (channel: string, reason: string): void {
    const retry = setTimeout(() => {
      if (this.#channels.get(channel) === undefined) return
      if (this.#pub?.status !== 'ready') {
        this.#retryRecovery(channel, reason)
        return
      }
      this.#recoverChannels([channel], reason).catch((err: unknown) => { this.#report(err, 'recover') })
    }, RECOVERY_RETRY_MS)
    retry.unref()
  }

  /**
   * Read and deliver what a channel missed since its last delivery; a gap the history cannot fill
   * is told through `onGap`. A fork (the history's publication at the last offset delivered is
   * another one, or the stream's offset went back) moves the stream to a new epoch first.
   * @returns the epoch the stream was read in (undefined: the channel is no longer followed)
   */
  async #fillGap (channel: string, state: ChannelState): Promise<string | undefined> {
    const last = state.last
    if (last === null) return undefined
    // From the last offset delivered itself (when there is one), to check it is the one delivered.
    const read = await this.#read(channel, Math.max(0, last.offset - 1), 0)
    if (this.#channels.get(channel) !== state) return undefined
    const { position } = read
    let cause: GapCause = 'epoch'
    if (position.epoch === last.epoch) {
      if (position.offset >= last.offset && this.#isDelivered(state, read, last.offset)) {
        if (position.offset === last.offset) return position.epoch
        const missed = read.publications.filter((publication) => publication.offset > last.offset)
        if (missed[0]?.offset === last.offset + 1 && missed.at(-1)?.offset === position.offset) {
          for (const publication of missed) this.#handOver(state, publication)
          this.#handler?.onGapRecovered?.(channel, missed.length)
        } else {
          this.#unrecoverable(channel, state, position, missed, 'trimmed')
        }
        return position.epoch
      }
      // Forked: once, whichever node finds it first, the stream moves to a new epoch.
      cause = 'fork'
      await this.#run('newEpoch', [state.keys.meta, state.keys.history], [last.epoch, newEpoch(), this.#streamIdleTtlMs])
      if (this.#channels.get(channel) !== state) return undefined
    }
    // Another epoch: everything its history retains, from the oldest.
    const all = await this.#read(channel, 0, 0)
    if (this.#channels.get(channel) !== state) return undefined
    this.#unrecoverable(channel, state, all.position, all.publications, cause)
    return all.position.epoch
  }

  /**
   * Whether the publication at `offset` is still the one this node delivered there, as far as the
   * stream shows it (its history entry, or the meta's newest); true when it cannot tell (no
   * history holds it, or its time is unknown).
   */
  #isDelivered (state: ChannelState, read: StreamRead, offset: number): boolean {
    if (offset === 0 || state.lastT === 0) return true
    const entry = read.publications[0]
    if (entry?.offset === offset) return entry.t === state.lastT
    if (read.newest?.offset === offset) return read.newest.t === state.lastT
    return true
  }

  /**
   * Publications before `retained` (or before the first one held, or the stream's next one)
   * cannot be delivered: tell the node where the channel now goes on, then deliver what is retained.
   */
  #unrecoverable (channel: string, state: ChannelState, position: StreamPosition, retained: Publication[], cause: GapCause): void {
    // Without history, a held publication of this stream (the one that showed the gap) is not lost.
    const after = state.last?.epoch === position.epoch ? state.last.offset : 0
    const firstHeld = retained.length === 0 ? state.buffer?.find((publication) => publication.epoch === position.epoch && publication.offset > after && publication.offset <= position.offset) : undefined
    const from: StreamPosition = { epoch: position.epoch, offset: (retained[0]?.offset ?? firstHeld?.offset ?? position.offset + 1) - 1 }
    const was = state.last
    state.last = from
    state.lastT = 0
    const onGap = this.#handler?.onGap
    if (onGap === undefined) this.#report(new Error(`channel ${channel}: publications after ${was?.epoch ?? ''}:${was?.offset ?? 0} lost (${cause}); the stream goes on after ${from.epoch}:${from.offset}`), 'recover')
    else onGap(channel, from, cause)
    for (const publication of retained) this.#handOver(state, publication)
  }

  /**
   * The subscriber connection is back: recover every followed channel. ioredis re-sends the
   * subscriptions only after the `ready` event, so live messages are held first, then the
   * subscriptions are awaited (a gap read made before they are active could miss what is
   * published in between), then each gap is read and delivered.
   */
  async #afterReconnect (): Promise<void> {
    const followed = [...this.#channels].filter(([, state]) => state.last !== null)
    this.#hold(followed.map(([channel]) => channel))
    try {
      await this.#subscribePubsub(...followed.map(([, state]) => state.keys.pubsub))
    } catch (err) {
      this.#report(err, 'recover')
    }
    if (followed.length > 0) this.#handler?.onResubscribe?.(followed.length, 'reconnect')
    await this.#recoverChannels(followed.map(([channel]) => channel), 'reconnect')
  }

  /**
   * A Cluster shard's subscription was cut off or moved (see shard-watch.ts): hold its channels,
   * make sure each SSUBSCRIBE is active again (awaited, so the history read after it misses
   * nothing published in between; a repeat of one ioredis already re-sent costs nothing), then
   * recover them from the history. A channel whose SSUBSCRIBE fails (its master is still down)
   * stays held, so nothing live skips past its gap, and is tried again (ShardWatch.retry).
   */
  async #recoverShard (sub: Cluster, channels: string[], reason: string): Promise<void> {
    this.#hold(channels)
    const subscribed = await Promise.all(channels.map(async (channel) => {
      const state = this.#channels.get(channel)
      if (state === undefined) return null
      try {
        await sub.ssubscribe(state.keys.pubsub)
        return channel
      } catch (err) {
        this.#lastErrors.set('subscriber', err instanceof Error ? err : new Error(String(err)))
        this.#shards?.retry(channel)
        return null
      }
    }))
    const ready = subscribed.filter((channel): channel is string => channel !== null)
    const failed = channels.length - ready.length
    if (failed > 0) this.#report(new Error(`Redis Cluster: SSUBSCRIBE of ${failed} channel(s) failed (${this.#lastErrors.get('subscriber')?.message ?? 'no answer'}); their live messages are held until it succeeds`), 'resubscribe')
    if (ready.length === 0) return
    this.#handler?.onResubscribe?.(ready.length, 'shard')
    const before = new Map(ready.map((channel) => [channel, this.#channels.get(channel)?.last ?? null]))
    await this.#recoverChannels(ready, reason)
    let caughtUp = 0
    for (const [channel, last] of before) {
      const now = this.#channels.get(channel)?.last
      if (last !== null && now !== undefined && now !== null && now.epoch === last.epoch) caughtUp += now.offset - last.offset
    }
    this.#handler?.onRestored?.(`Redis Cluster sharded subscription of ${ready.length} channel(s) (${reason}; ${caughtUp} publication(s) delivered by the recovery)`)
  }

  /**
   * Every `positionCheckIntervalMs`: read the position of every followed channel that nothing
   * holds (one single-key command each, so a Redis Cluster routes each to its slot), wait until
   * every pub/sub message sent before those reads has arrived (a PING on the subscriber
   * connection is answered after them), and recover the channels still behind: ahead of what this
   * node delivered, in another epoch, or with another newest publication at the same offset.
   */
  async #checkPositions (): Promise<void> {
    const pub = this.#pub
    const sub = this.#sub
    if (this.#checking || pub?.status !== 'ready' || sub?.status !== 'ready') return
    this.#checking = true
    try {
      const followed = [...this.#channels].filter(([, state]) => state.last !== null && state.buffer === null)
      const metas = new Map<string, Array<string | null>>()
      for (let i = 0; i < followed.length; i += CHECK_BATCH) {
        await Promise.all(followed.slice(i, i + CHECK_BATCH).map(async ([channel, state]) => {
          metas.set(channel, await pub.hmget(state.keys.meta, 'offset', 'epoch', 'last'))
        }))
      }
      await sub.ping()
      const behind: string[] = []
      for (const [channel, state] of followed) {
        const meta = metas.get(channel)
        if (this.#channels.get(channel) !== state || state.buffer !== null || meta === undefined) continue
        if (isBehind(state, meta)) behind.push(channel)
      }
      this.#handler?.onPositionCheck?.(followed.length, behind.length)
      if (behind.length > 0) await this.#recoverChannels(behind, 'position check')
    } finally {
      this.#checking = false
    }
  }

  /**
   * Remove presence entries (by client id, or every expired one and the dead nodes' occupancy)
   * and tell the node what this call found: the visitors who left, the channel left vacant.
   * @param how - `['', clientId…]` to remove those, `[now]` to remove what expired by then
   */
  async #removePresence (channel: string, keys: ChannelKeys, how: string[]): Promise<void> {
    const [left, vacated, next] = await this.#run('presenceRemove', presenceKeys(keys), [keys.pubsub, ...how]) as [string[], number, number]
    await this.#scheduleSweep(channel, next)
    for (const id of left) this.#lifecycle({ type: 'presence.leave', channel, member: { id } })
    if (vacated === 1) this.#lifecycle({ type: 'channel.vacated', channel })
  }

  /** Mark this node as holding subscribers of `channel` (or refresh its mark). */
  async #occupy (channel: string, keys: ChannelKeys): Promise<void> {
    const now = Date.now()
    const [occupied, next] = await this.#run('occupy', presenceKeys(keys), [
      this.nodeId, now + this.#occupancyTtlMs, now, Math.max(this.#occupancyTtlMs * 3, 60_000)
    ]) as [number, number]
    await this.#scheduleSweep(channel, next)
    if (occupied === 1) this.#lifecycle({ type: 'channel.occupied', channel })
  }

  /**
   * Record when a sweep should next look at `channel` (its soonest expiry, as the script that just
   * ran saw it; -1: nothing to expire). The registry is a hint, kept apart from the channel's own
   * keys (another slot in a cluster): a write that races another may put the sweep a little late,
   * and a sweep that finds nothing costs one script call and reschedules it.
   */
  async #scheduleSweep (channel: string, next: number): Promise<void> {
    const pub = this.#publisher()
    await this.#bounded(next < 0 ? pub.zrem(sweepRegistry(this.#prefix), channel) : pub.zadd(sweepRegistry(this.#prefix), next, channel))
  }

  /** Every third of the occupancy TTL: refresh this node's marks on the channels it holds. */
  #refreshOccupancy (): void {
    if (this.#pub?.status !== 'ready') return
    for (const [channel, state] of this.#channels) this.#occupy(channel, state.keys).catch((err: unknown) => { this.#report(err, 'occupancy refresh') })
  }

  /**
   * Every node, every sweep interval: sweep the channels whose entries are due, whoever holds
   * them, so the presence and the occupancy of a node that died expire even where no live node
   * subscribes.
   */
  #sweep (): void {
    const pub = this.#pub
    if (pub?.status !== 'ready') return
    const now = Date.now()
    pub.zrangebyscore(sweepRegistry(this.#prefix), '-inf', now, 'LIMIT', 0, SWEEP_BATCH).then(async (due) => {
      for (const channel of due) await this.#removePresence(channel, this.#keys(channel), [String(now)])
    }).catch((err: unknown) => { this.#report(err, 'presence sweep') })
  }

  #lifecycle (event: LifecycleEvent): void {
    this.#handler?.onLifecycle?.(event)
  }

  #report (err: unknown, operation: string): void {
    this.#handler?.onError?.(err instanceof Error ? err : new Error(String(err)), operation)
  }
}

/**
 * How the adapter opens its connections, from exactly one of `url`, `client`, `createClient`.
 * @throws InvalidOptionError (FRT_INVALID_OPTION) when none or several are given
 */
function connector (options: RedisAdapterOptions, nodeId: string): (role: 'publisher' | 'subscriber') => RedisConnection {
  const given = (['url', 'cluster', 'client', 'createClient'] as const).filter((key) => options[key] !== undefined)
  if (given.length !== 1) {
    throw new InvalidOptionError('RedisAdapter', `give exactly one of url, cluster, client or createClient (got ${given.length === 0 ? 'none' : given.join(' and ')})`)
  }
  const { url, cluster, client, createClient } = options
  if (url !== undefined) return (role) => createRedisConnection({ url, role, nodeId })
  if (cluster !== undefined) {
    if (!Array.isArray(cluster.nodes) || cluster.nodes.length === 0) throw new InvalidOptionError('RedisAdapter.cluster.nodes', 'expected at least one cluster node ({ host, port })')
    return (role) => createRedisClusterConnection(cluster, role, nodeId)
  }
  if (client instanceof Cluster) return (role) => duplicateRedisClusterConnection(client, role, nodeId)
  if (client !== undefined) return (role) => duplicateRedisConnection(client, role, nodeId)
  if (typeof createClient !== 'function') throw new InvalidOptionError('RedisAdapter.createClient', 'expected a function returning a new ioredis client')
  return createClient
}

function presenceKeys (keys: ChannelKeys): string[] {
  return [keys.presenceClients, keys.presenceExpiries, keys.presenceCounts, keys.presenceNames, keys.occupancy]
}
