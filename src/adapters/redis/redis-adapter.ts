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
 */
import { randomBytes } from 'node:crypto'
import type { Redis } from 'ioredis'
import { AdapterUnavailableError, IdempotencyKeyReusedError, InvalidOptionError } from '../../errors.js'
import type { AdapterHandler, RealtimeAdapter } from '../adapter.js'
import type { AdapterSettings, ControlMessage, Publication, PublishOptions, RecentResult, SinceResult, StreamPosition } from '../broker.js'
import type { PresenceEntry, PresenceMember } from '../presence.js'
import type { LifecycleEvent } from '../state.js'
import { publishFingerprint } from '../fingerprint.js'
import { decodePubsub } from './codec.js'
import { closeRedisConnection, createRedisConnection, duplicateRedisConnection, redisAddress, redisClientAddress, type RedisRole } from './connection.js'
import { channelKeys, channelOfPubsub, controlChannel, idempotencyKey, stateKey, sweepRegistry, type ChannelKeys } from './keys.js'
import { luaScript, runScript } from './script-runner.js'
import { OCCUPY_LUA, PRESENCE_ADD_LUA, PRESENCE_REMOVE_LUA, PUBLISH_LUA, READ_LUA, VACATE_LUA } from './scripts.js'

/**
 * Options of {@link RedisAdapter}: where Redis is, as exactly one of `url`, `client` or
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
  client?: Redis
  /**
   * Makes a new ioredis connection each call (once for the publisher, once for the subscriber);
   * for setups `duplicate()` does not fit. The adapter owns what it returns and quits it on close;
   * return a new connection each time, never a shared one.
   */
  createClient?: (role: 'publisher' | 'subscriber') => Redis
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
   * by default so that a wrong address fails fast, and within Fastify's plugin timeout (10 s).
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
async function waitReady (redis: Redis, timeoutMs: number, failure: () => Error): Promise<void> {
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
  readonly #connect: (role: 'publisher' | 'subscriber') => Redis
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
  #pub: Redis | null = null
  #sub: Redis | null = null
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
    this.#address = options.url !== undefined ? redisAddress(options.url) : options.client !== undefined ? redisClientAddress(options.client) : 'the createClient connections'
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
    // Load the scripts whenever the publisher (re)connects: an EVALSHA that misses and falls back
    // to EVAL would overtake later calls and reorder concurrent publishes of one channel.
    pub.on('ready', () => { this.#loadScripts(pub).catch((err: unknown) => { this.#report(err, 'script load') }) })
    sub.on('ready', () => {
      if (!this.#started) return
      this.#afterReconnect(sub).catch((err: unknown) => { this.#report(err, 'recover') })
    })
    sub.on('message', (pubsub: string, text: string) => { this.#onMessage(pubsub, text) })
    try {
      await Promise.all([
        waitReady(pub, this.#connectTimeoutMs, () => this.#unreachable('publisher')),
        waitReady(sub, this.#connectTimeoutMs, () => this.#unreachable('subscriber'))
      ])
      await this.#loadScripts(pub)
      // Every node listens to the control channel for its whole life (ioredis resubscribes on reconnect).
      await sub.subscribe(controlChannel(this.#prefix))
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
  #watch (redis: Redis, role: RedisRole): void {
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
    const keys = channelKeys(this.#prefix, channel)
    const t = Date.now()
    const ttlMs = Math.max(1, options.historyTtlMs)
    const key = options.idempotencyKey
    const result = await runScript(this.#publisher(), SCRIPTS.publish, [keys.meta, keys.history, key === undefined ? keys.meta : idempotencyKey(keys, key)], [
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
    const state: ChannelState = { keys: channelKeys(this.#prefix, channel), last: null, buffer: [] }
    this.#channels.set(channel, state)
    try {
      await this.#subscriber().subscribe(state.keys.pubsub)
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
    await this.#subscriber().unsubscribe(state.keys.pubsub)
    const [vacated, next] = await runScript(this.#publisher(), SCRIPTS.vacate, presenceKeys(state.keys), [this.nodeId]) as [number, number]
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
    const keys = channelKeys(this.#prefix, channel)
    const [change, next] = await runScript(this.#publisher(), SCRIPTS.presenceAdd, presenceKeys(keys), [
      entry.clientId, entry.visitorId, entry.name ?? '', entry.name === undefined ? '0' : '1',
      Date.now() + ttlMs, Math.max(ttlMs * 3, 60_000), keys.pubsub
    ]) as [number, number]
    await this.#scheduleSweep(channel, next)
    if (change === 1) this.#lifecycle({ type: 'presence.join', channel, member: entry.name === undefined ? { id: entry.visitorId } : { id: entry.visitorId, name: entry.name } })
  }

  async presenceRemove (channel: string, clientId: string): Promise<void> {
    await this.#removePresence(channel, channelKeys(this.#prefix, channel), ['', clientId])
  }

  async presence (channel: string): Promise<PresenceMember[]> {
    const keys = channelKeys(this.#prefix, channel)
    const pub = this.#publisher()
    await this.#removePresence(channel, keys, [String(Date.now())])
    const [counts, names] = await Promise.all([pub.hgetall(keys.presenceCounts), pub.hgetall(keys.presenceNames)])
    return Object.keys(counts)
      .filter((id) => Number(counts[id]) > 0)
      .sort()
      .map((id) => names[id] === undefined ? { id } : { id, name: names[id] })
  }

  async control (message: ControlMessage): Promise<void> {
    await this.#publisher().publish(controlChannel(this.#prefix), JSON.stringify(message))
  }

  async stateSet (key: string, value: unknown, ttlMs: number): Promise<void> {
    await this.#publisher().set(stateKey(this.#prefix, key), JSON.stringify(value ?? null), 'PX', Math.max(1, ttlMs))
  }

  async stateClaim (key: string, value: unknown, ttlMs: number): Promise<boolean> {
    // SET NX is atomic: of several nodes claiming the same key, exactly one gets OK.
    return await this.#publisher().set(stateKey(this.#prefix, key), JSON.stringify(value ?? null), 'PX', Math.max(1, ttlMs), 'NX') === 'OK'
  }

  async stateGet (key: string): Promise<unknown> {
    const json = await this.#publisher().get(stateKey(this.#prefix, key))
    return json === null ? undefined : JSON.parse(json) as unknown
  }

  async stateDelete (key: string): Promise<void> {
    await this.#publisher().del(stateKey(this.#prefix, key))
  }

  /** Release the timers and quit the two connections the adapter opened (never a client it was given). */
  async close (): Promise<void> {
    if (this.#sweeper !== null) clearInterval(this.#sweeper)
    this.#sweeper = null
    if (this.#occupancyRefresher !== null) clearInterval(this.#occupancyRefresher)
    this.#occupancyRefresher = null
    this.#channels.clear()
    const connections = [this.#pub, this.#sub]
    this.#pub = null
    this.#sub = null
    await Promise.all(connections.map(async (redis) => { if (redis !== null) await closeRedisConnection(redis) }))
  }

  async #loadScripts (pub: Redis): Promise<void> {
    await Promise.all(Object.values(SCRIPTS).map(async (script) => await pub.script('LOAD', script.lua)))
  }

  #publisher (): Redis {
    if (this.#pub === null) throw new Error('RedisAdapter used before init() or after close()')
    return this.#pub
  }

  #subscriber (): Redis {
    if (this.#sub === null) throw new Error('RedisAdapter used before init() or after close()')
    return this.#sub
  }

  async #read (channel: string, fromOffset: number, count: number): Promise<RecentResult> {
    const keys = channelKeys(this.#prefix, channel)
    const [offset, epoch, ttl, entries] = await runScript(this.#publisher(), SCRIPTS.read, [keys.meta, keys.history], [
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
    const channel = channelOfPubsub(this.#prefix, pubsub)
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
  async #afterReconnect (sub: Redis): Promise<void> {
    const held = [...this.#channels].filter(([, state]) => state.last !== null && state.buffer === null)
    for (const [, state] of held) state.buffer = []
    try {
      if (held.length > 0) await sub.subscribe(...held.map(([, state]) => state.keys.pubsub))
    } catch (err) {
      this.#report(err, 'recover')
    }
    await Promise.all(held.map(async ([channel, state]) => { await this.#fillGap(channel, state) }))
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
    const [left, vacated, next] = await runScript(this.#publisher(), SCRIPTS.presenceRemove, presenceKeys(keys), [keys.pubsub, ...how]) as [string[], number, number]
    await this.#scheduleSweep(channel, next)
    for (const id of left) this.#lifecycle({ type: 'presence.leave', channel, member: { id } })
    if (vacated === 1) this.#lifecycle({ type: 'channel.vacated', channel })
  }

  /** Mark this node as holding subscribers of `channel` (or refresh its mark). */
  async #occupy (channel: string, keys: ChannelKeys): Promise<void> {
    const now = Date.now()
    const [occupied, next] = await runScript(this.#publisher(), SCRIPTS.occupy, presenceKeys(keys), [
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
    if (next < 0) await pub.zrem(sweepRegistry(this.#prefix), channel)
    else await pub.zadd(sweepRegistry(this.#prefix), next, channel)
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
      for (const channel of due) await this.#removePresence(channel, channelKeys(this.#prefix, channel), [String(now)])
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
function connector (options: RedisAdapterOptions, nodeId: string): (role: 'publisher' | 'subscriber') => Redis {
  const given = (['url', 'client', 'createClient'] as const).filter((key) => options[key] !== undefined)
  if (given.length !== 1) {
    throw new InvalidOptionError('RedisAdapter', `give exactly one of url, client or createClient (got ${given.length === 0 ? 'none' : given.join(' and ')})`)
  }
  const { url, client, createClient } = options
  if (url !== undefined) return (role) => createRedisConnection({ url, role, nodeId })
  if (client !== undefined) return (role) => duplicateRedisConnection(client, role, nodeId)
  if (typeof createClient !== 'function') throw new InvalidOptionError('RedisAdapter.createClient', 'expected a function returning a new ioredis client')
  return createClient
}

function presenceKeys (keys: ChannelKeys): string[] {
  return [keys.presenceClients, keys.presenceExpiries, keys.presenceCounts, keys.presenceNames, keys.occupancy]
}
