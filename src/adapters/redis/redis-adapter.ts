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
 * - After a lost subscriber connection comes back, each channel's gap is read from the history and
 *   delivered in order before the buffered live messages, so subscribers miss nothing the history
 *   still holds; when it no longer does, they get the new epoch and their `since` says so.
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
import type { AdapterSettings, ControlMessage, Publication, PublishOptions, RecentResult, SinceResult, StreamPosition } from '../broker.js'
import type { PresenceEntry, PresenceMember } from '../presence.js'
import type { LifecycleEvent } from '../state.js'
import { publishFingerprint } from '../fingerprint.js'
import { decodePubsub } from './codec.js'
import {
  clusterAddress, createRedisClusterConnection, createRedisConnection, duplicateRedisClusterConnection, duplicateRedisConnection,
  redisAddress, redisClientAddress, type RedisClusterConfig, type RedisConnection, type RedisRole
} from './connection.js'
import { channelKeys, channelOfPubsub, controlChannel, idempotencyKey, stateKey, sweepRegistry, type ChannelKeys, type KeyLayout } from './keys.js'
import { evalScript, luaScript, runScript, type LuaScript } from './script-runner.js'
import { ShardWatch } from './shard-watch.js'
import { OCCUPY_LUA, PRESENCE_ADD_LUA, PRESENCE_REMOVE_LUA, PUBLISH_LUA, READ_LUA, VACATE_LUA } from './scripts.js'

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
}

const SCRIPTS = {
  publish: luaScript(PUBLISH_LUA),
  read: luaScript(READ_LUA),
  presenceAdd: luaScript(PRESENCE_ADD_LUA),
  presenceRemove: luaScript(PRESENCE_REMOVE_LUA),
  occupy: luaScript(OCCUPY_LUA),
  vacate: luaScript(VACATE_LUA)
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

/** What this node knows of a channel it subscribes to. */
interface ChannelState {
  keys: ChannelKeys
  /** The last publication delivered (or the position when subscribing). */
  last: StreamPosition | null
  /** While a reconnect gap is being read, live messages wait here. */
  buffer: Publication[] | null
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
  return {
    channel,
    offset: Number(id.split('-')[0]),
    epoch,
    t: Number(fieldOf(fields, 't')),
    data: JSON.parse(fieldOf(fields, 'd') ?? 'null') as unknown
  }
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
  /** Set once `init` has connected both: only then is a closed connection "lost". */
  #started = false

  constructor (options: RedisAdapterOptions) {
    this.nodeId = options.nodeId ?? randomBytes(6).toString('base64url')
    this.#connect = connector(options, this.nodeId)
    this.#prefix = options.keyPrefix ?? 'rt:'
    this.#streamIdleTtlMs = options.streamIdleTtlMs ?? 7 * 24 * 60 * 60 * 1000
    this.#sweepIntervalMs = options.presenceSweepIntervalMs ?? 1000
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 3000
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
      newEpoch(), JSON.stringify(data ?? null), t, options.historySize, ttlMs,
      Math.max(this.#streamIdleTtlMs, ttlMs), keys.pubsub, this.nodeId,
      key === undefined ? '' : Math.max(1, options.idempotencyTtlMs ?? 0),
      // Stored beside the position, space-separated: a caller's own fingerprint is hashed to a token without spaces.
      key === undefined ? '' : publishFingerprint(channel, options.idempotencyFingerprint ?? data)
    ]) as [number, string, string, number]
    if (result[3] === 2) throw new IdempotencyKeyReusedError()
    const publication: Publication = { channel, offset: Number(result[0]), epoch: result[1], data: data ?? null, t: Number(result[2]) }
    if (result[3] === 1) publication.duplicate = true
    return publication
  }

  async subscribe (channel: string): Promise<void> {
    if (this.#channels.has(channel)) return
    const state: ChannelState = { keys: this.#keys(channel), last: null, buffer: [] }
    this.#channels.set(channel, state)
    try {
      await this.#subscribePubsub(state.keys.pubsub)
      this.#shards?.track(channel, state.keys.pubsub)
      // Know where we start, so a reconnect gap can be read even before the first delivery.
      const { position } = await this.recent(channel, 0)
      state.last ??= position
    } catch (err) {
      this.#channels.delete(channel)
      throw err
    }
    this.#flush(state)
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
    return await this.#read(channel, -1, limit)
  }

  async presenceAdd (channel: string, entry: PresenceEntry, ttlMs: number): Promise<void> {
    const keys = this.#keys(channel)
    const [change, next] = await this.#run('presenceAdd', presenceKeys(keys), [
      entry.clientId, entry.visitorId, entry.name ?? '', entry.name === undefined ? '0' : '1',
      Date.now() + ttlMs, Math.max(ttlMs * 3, 60_000), keys.pubsub
    ]) as [number, number]
    await this.#scheduleSweep(channel, next)
    if (change === 1) this.#lifecycle({ type: 'presence.join', channel, member: entry.name === undefined ? { id: entry.visitorId } : { id: entry.visitorId, name: entry.name } })
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
      .map((id) => names[id] === undefined ? { id } : { id, name: names[id] })
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
    if (this.#occupancyRefresher !== null) clearInterval(this.#occupancyRefresher)
    this.#occupancyRefresher = null
    this.#channels.clear()
    this.#shards?.stop()
    this.#shards = null
    const connections = [this.#pub, this.#sub]
    this.#pub = null
    this.#sub = null
    await Promise.all(connections.map(async (redis) => {
      if (redis === null) return
      if (redis.status === 'ready') await redis.quit().catch(() => { redis.disconnect() })
      else redis.disconnect()
    }))
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

  async #read (channel: string, fromOffset: number, count: number): Promise<RecentResult> {
    const keys = this.#keys(channel)
    const [offset, epoch, ttl, entries] = await this.#run('read', [keys.meta, keys.history], [
      newEpoch(), fromOffset, count, this.#streamIdleTtlMs
    ]) as [number, string, string, StreamEntry[]]
    const ordered = fromOffset < 0 ? [...entries].reverse() : entries
    // Stream entries cannot expire one by one: drop those older than the history TTL on read.
    const oldest = Date.now() - Number(ttl)
    const publications = ordered.map((entry) => toPublication(channel, epoch, entry)).filter((publication) => publication.t >= oldest)
    return { position: { offset: Number(offset), epoch }, publications }
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
      this.#deliver(state, message.publication)
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

  #deliver (state: ChannelState, publication: Publication): void {
    const last = state.last
    // After a gap was filled from the history, the same publications may still arrive live.
    if (last !== null && last.epoch === publication.epoch && publication.offset <= last.offset) return
    state.last = { offset: publication.offset, epoch: publication.epoch }
    this.#handler?.onPublication(publication)
  }

  #flush (state: ChannelState): void {
    const buffered = state.buffer ?? []
    state.buffer = null
    for (const publication of buffered) this.#deliver(state, publication)
  }

  /**
   * The subscriber connection is back: fill each channel's gap from the history, in order, before
   * what arrives live. ioredis re-sends the subscriptions only after the `ready` event, so live
   * messages are held first, then the subscriptions are awaited (a gap read made before they are
   * active could miss what is published in between), then each gap is read and delivered.
   */
  async #afterReconnect (): Promise<void> {
    const held = [...this.#channels].filter(([, state]) => state.last !== null && state.buffer === null)
    for (const [, state] of held) state.buffer = []
    try {
      await this.#subscribePubsub(...held.map(([, state]) => state.keys.pubsub))
    } catch (err) {
      this.#report(err, 'recover')
    }
    await Promise.all(held.map(async ([channel, state]) => { await this.#fillGap(channel, state) }))
  }

  /** Hold the live messages of `channels` (their subscription is cut off) until they are recovered. */
  #hold (channels: Iterable<string>): void {
    for (const channel of channels) {
      const state = this.#channels.get(channel)
      if (state !== undefined && state.last !== null) state.buffer ??= []
    }
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
   * Recover `channels` from the history: deliver what each missed since its last delivery, in
   * order, then what was held meanwhile. (A minimal version over {@link #fillGap}; the gap work
   * replaces it with one that also signals what cannot be recovered.)
   */
  async #recoverChannels (channels: Iterable<string>, reason: string): Promise<void> {
    const due: Array<[string, ChannelState]> = []
    for (const channel of channels) {
      const state = this.#channels.get(channel)
      if (state === undefined || state.last === null) continue
      state.buffer ??= []
      due.push([channel, state])
    }
    // #fillGap reports its own failures and always releases what it held; this only names the cause of anything else.
    await Promise.all(due.map(async ([channel, state]) => { await this.#fillGap(channel, state) })).catch((err: unknown) => { this.#report(err, `recover (${reason})`) })
  }

  /** Deliver what a channel missed since its last delivery, then what was held meanwhile. */
  async #fillGap (channel: string, state: ChannelState): Promise<void> {
    try {
      if (state.last === null) return
      const result = await this.since(channel, state.last)
      if (this.#channels.get(channel) !== state) return
      for (const publication of result.publications) this.#deliver(state, publication)
      if (!result.recovered) this.#report(new Error(`channel ${channel}: publications lost while Redis was unreachable`), 'recover')
    } catch (err) {
      this.#report(err, 'recover')
    } finally {
      this.#flush(state)
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
