/**
 * The embedded default adapter: publications, history and presence in this process's memory.
 * One node only; a restart loses the history, and the new epoch tells clients so.
 *
 * Modelled on centrifuge's MemoryBroker (a stream per channel: epoch, top offset, a capped list)
 * and socket.io-adapter's offset-stamped log.
 */
import { randomBytes } from 'node:crypto'
import { IdempotencyKeyReusedError } from '../errors.js'
import { publishFingerprint } from './fingerprint.js'
import type { AdapterHandler, RealtimeAdapter } from './adapter.js'
import { publicationExtras, type ControlMessage, type Publication, type PublishOptions, type RecentResult, type SinceResult, type StreamPosition } from './broker.js'
import type { PresenceEntry, PresenceMember } from './presence.js'
import type { LifecycleEvent } from './state.js'

/** Options of {@link MemoryAdapter}. */
export interface MemoryAdapterOptions {
  /**
   * A channel's stream (epoch, offset, history) is forgotten after this long without a publish or
   * a read; its next use starts a new epoch. Bounds memory when channel names are many and short-lived.
   * @default 86400000 (24 h)
   */
  streamIdleTtlMs?: number
  /** How often expired presence entries and idle streams are swept, in milliseconds. @default 1000 */
  sweepIntervalMs?: number
  /** Time source, for tests. @default Date.now */
  now?: () => number
}

interface StoredPublication {
  publication: Publication
  expiresAt: number
}

interface Stream {
  epoch: string
  offset: number
  /** Oldest first; offsets consecutive. */
  history: StoredPublication[]
  lastUsedAt: number
}

interface PresenceClient {
  visitorId: string
  name: string | undefined
  /** The member's info as JSON text (compared as text), or undefined. */
  info: string | undefined
  expiresAt: number
}

interface ChannelPresence {
  clients: Map<string, PresenceClient>
  /** Per visitor: how many connections, and the name shown (the latest connection's). */
  visitors: Map<string, { count: number, name: string | undefined, info: string | undefined }>
}

/** A fresh, unguessable epoch. */
function newEpoch (): string {
  return randomBytes(6).toString('base64url')
}

function member (id: string, name: string | undefined, info?: string): PresenceMember {
  const found: PresenceMember = name === undefined ? { id } : { id, name }
  if (info !== undefined) found.info = JSON.parse(info) as unknown
  return found
}

/** A member's info as the text it is compared and kept as (undefined: none). */
function infoText (info: unknown): string | undefined {
  return info === undefined ? undefined : JSON.stringify(info)
}

/** Everything in one process, all three parts (broker, presence, shared state): see the module comment. */
export class MemoryAdapter implements RealtimeAdapter {
  readonly name = 'memory'
  /** Its shared state lives and dies with this process. */
  readonly inProcess = true
  readonly #streams = new Map<string, Stream>()
  readonly #presence = new Map<string, ChannelPresence>()
  readonly #subscribed = new Set<string>()
  /** Idempotency keys of recent publishes, by channel and key: the first publication's position. */
  readonly #idempotency = new Map<string, { offset: number, epoch: string, t: number, fingerprint: string, expiresAt: number }>()
  /** Shared state: a JSON copy of each value (so callers never share objects), with its expiry. */
  readonly #state = new Map<string, { json: string, expiresAt: number }>()
  readonly #streamIdleTtlMs: number
  readonly #sweepIntervalMs: number
  readonly #now: () => number
  #handler: AdapterHandler | null = null
  #sweeper: ReturnType<typeof setInterval> | null = null
  #closed = false

  constructor (options: MemoryAdapterOptions = {}) {
    this.#streamIdleTtlMs = options.streamIdleTtlMs ?? 24 * 60 * 60 * 1000
    this.#sweepIntervalMs = options.sweepIntervalMs ?? 1000
    this.#now = options.now ?? Date.now
  }

  async init (handler: AdapterHandler): Promise<void> {
    this.#handler = handler
    // One unref'd timer for all sweeping: it never keeps the process alive.
    this.#sweeper = setInterval(() => this.sweep(), this.#sweepIntervalMs)
    this.#sweeper.unref()
  }

  async publish (channel: string, data: unknown, options: PublishOptions): Promise<Publication> {
    this.#assertOpen()
    const now = this.#now()
    const idempotency = options.idempotencyKey === undefined ? undefined : `${channel}\u0000${options.idempotencyKey}`
    const fingerprint = idempotency === undefined ? '' : options.idempotencyFingerprint ?? publishFingerprint(channel, data)
    if (idempotency !== undefined) {
      const first = this.#idempotency.get(idempotency)
      if (first !== undefined && first.expiresAt > now) {
        // The same key for another publication: a mistake its sender must hear of, not a duplicate.
        if (first.fingerprint !== fingerprint) throw new IdempotencyKeyReusedError()
        return { channel, offset: first.offset, epoch: first.epoch, data, t: first.t, duplicate: true }
      }
    }
    const stream = this.#stream(channel, now)
    stream.offset++
    const publication: Publication = { channel, offset: stream.offset, epoch: stream.epoch, data, t: now, ...publicationExtras(options) }
    if (idempotency !== undefined) this.#idempotency.set(idempotency, { offset: stream.offset, epoch: stream.epoch, t: now, fingerprint, expiresAt: now + (options.idempotencyTtlMs ?? 0) })
    if (options.historySize > 0 && options.historyTtlMs > 0) {
      stream.history.push({ publication, expiresAt: now + options.historyTtlMs })
      if (stream.history.length > options.historySize) stream.history.splice(0, stream.history.length - options.historySize)
    } else if (stream.history.length > 0) {
      stream.history = []
    }
    // Synchronous delivery keeps offset order trivially: one publish, one callback, in call order.
    if (this.#subscribed.has(channel)) this.#handler?.onPublication(options.except === undefined ? publication : { ...publication, except: options.except })
    return publication
  }

  async subscribe (channel: string): Promise<void> {
    this.#assertOpen()
    if (this.#subscribed.has(channel)) return
    this.#subscribed.add(channel)
    // One node: its subscription is the channel's occupancy.
    this.#lifecycle({ type: 'channel.occupied', channel })
  }

  async unsubscribe (channel: string): Promise<void> {
    if (this.#subscribed.delete(channel)) this.#lifecycle({ type: 'channel.vacated', channel })
  }

  async since (channel: string, position: StreamPosition): Promise<SinceResult> {
    this.#assertOpen()
    const now = this.#now()
    const stream = this.#stream(channel, now)
    const retained = this.#retained(stream, now)
    const current = { offset: stream.offset, epoch: stream.epoch }
    if (position.epoch === stream.epoch && position.offset <= stream.offset) {
      const missed = retained.filter((publication) => publication.offset > position.offset)
      // Complete when nothing was missed, or the first missed one is still retained.
      const complete = position.offset === stream.offset || missed[0]?.offset === position.offset + 1
      if (complete) return { position: current, recovered: true, publications: missed }
    }
    return { position: current, recovered: false, publications: retained }
  }

  async recent (channel: string, limit: number): Promise<RecentResult> {
    this.#assertOpen()
    const now = this.#now()
    const stream = this.#stream(channel, now)
    const retained = this.#retained(stream, now)
    return { position: { offset: stream.offset, epoch: stream.epoch }, publications: limit > 0 ? retained.slice(-limit) : [] }
  }

  async presenceAdd (channel: string, entry: PresenceEntry, ttlMs: number): Promise<void> {
    this.#assertOpen()
    let presence = this.#presence.get(channel)
    if (presence === undefined) {
      presence = { clients: new Map(), visitors: new Map() }
      this.#presence.set(channel, presence)
    }
    const expiresAt = this.#now() + ttlMs
    const info = infoText(entry.info)
    const known = presence.clients.get(entry.clientId)
    const isNew = known === undefined || known.visitorId !== entry.visitorId
    if (!isNew) {
      known.expiresAt = expiresAt
      if (known.name === entry.name && known.info === info) return
      known.name = entry.name
      known.info = info
    } else {
      // The same connection id under another visitor: the old entry goes first.
      if (known !== undefined) this.#removeClient(channel, presence, entry.clientId)
      presence.clients.set(entry.clientId, { visitorId: entry.visitorId, name: entry.name, info, expiresAt })
      if (!this.#presence.has(channel)) this.#presence.set(channel, presence)
    }
    const visitor = presence.visitors.get(entry.visitorId)
    if (visitor === undefined) {
      presence.visitors.set(entry.visitorId, { count: 1, name: entry.name, info })
      this.#emitPresence(channel, 'join', member(entry.visitorId, entry.name, info))
      this.#lifecycle({ type: 'presence.join', channel, member: member(entry.visitorId, entry.name, info) })
      return
    }
    if (isNew) visitor.count++
    if (visitor.name !== entry.name || visitor.info !== info) {
      visitor.name = entry.name
      visitor.info = info
      this.#emitPresence(channel, 'join', member(entry.visitorId, entry.name, info))
    }
  }

  async presenceRemove (channel: string, clientId: string): Promise<void> {
    const presence = this.#presence.get(channel)
    if (presence !== undefined) this.#removeClient(channel, presence, clientId)
  }

  async presence (channel: string): Promise<PresenceMember[]> {
    this.#assertOpen()
    const presence = this.#presence.get(channel)
    if (presence === undefined) return []
    this.#expire(channel, presence, this.#now())
    return [...presence.visitors.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([id, visitor]) => member(id, visitor.name, visitor.info))
  }

  async control (message: ControlMessage): Promise<void> {
    this.#assertOpen()
    // One node: the message comes straight back, as a copy (it crossed a wire elsewhere).
    this.#handler?.onControl?.(JSON.parse(JSON.stringify(message)) as ControlMessage)
  }

  async stateSet (key: string, value: unknown, ttlMs: number): Promise<void> {
    this.#assertOpen()
    this.#state.set(key, { json: JSON.stringify(value ?? null), expiresAt: this.#now() + ttlMs })
  }

  async stateClaim (key: string, value: unknown, ttlMs: number): Promise<boolean> {
    this.#assertOpen()
    // No await between the look and the store: claims made at once see each other.
    if (this.#liveState(key) !== undefined) return false
    this.#state.set(key, { json: JSON.stringify(value ?? null), expiresAt: this.#now() + ttlMs })
    return true
  }

  async stateGet (key: string): Promise<unknown> {
    this.#assertOpen()
    const json = this.#liveState(key)
    return json === undefined ? undefined : JSON.parse(json) as unknown
  }

  async stateDelete (key: string): Promise<void> {
    this.#state.delete(key)
  }

  async close (): Promise<void> {
    this.#closed = true
    if (this.#sweeper !== null) clearInterval(this.#sweeper)
    this.#sweeper = null
    this.#subscribed.clear()
    this.#streams.clear()
    this.#presence.clear()
    this.#state.clear()
    this.#idempotency.clear()
    this.#handler = null
  }

  /** Drop expired presence entries (sending leaves), idle streams, expired state and idempotency keys. Runs on a timer; public for tests. */
  sweep (): void {
    const now = this.#now()
    for (const [channel, presence] of this.#presence) this.#expire(channel, presence, now)
    for (const [channel, stream] of this.#streams) {
      if (now - stream.lastUsedAt > this.#streamIdleTtlMs) this.#streams.delete(channel)
    }
    for (const [key, kept] of this.#state) {
      if (kept.expiresAt <= now) this.#state.delete(key)
    }
    for (const [key, first] of this.#idempotency) {
      if (first.expiresAt <= now) this.#idempotency.delete(key)
    }
  }

  /** The JSON kept under `key`, unless it expired (then it is forgotten). */
  #liveState (key: string): string | undefined {
    const kept = this.#state.get(key)
    if (kept === undefined) return undefined
    if (kept.expiresAt > this.#now()) return kept.json
    this.#state.delete(key)
    return undefined
  }

  #stream (channel: string, now: number): Stream {
    let stream = this.#streams.get(channel)
    if (stream === undefined || now - stream.lastUsedAt > this.#streamIdleTtlMs) {
      stream = { epoch: newEpoch(), offset: 0, history: [], lastUsedAt: now }
      this.#streams.set(channel, stream)
    }
    stream.lastUsedAt = now
    return stream
  }

  /** The unexpired history (expired entries are at the front: they were appended first). */
  #retained (stream: Stream, now: number): Publication[] {
    let firstLive = 0
    while (firstLive < stream.history.length && (stream.history[firstLive]?.expiresAt ?? 0) <= now) firstLive++
    if (firstLive > 0) stream.history.splice(0, firstLive)
    return stream.history.map((stored) => stored.publication)
  }

  #expire (channel: string, presence: ChannelPresence, now: number): void {
    for (const [clientId, client] of presence.clients) {
      if (client.expiresAt <= now) this.#removeClient(channel, presence, clientId)
    }
  }

  #removeClient (channel: string, presence: ChannelPresence, clientId: string): void {
    const client = presence.clients.get(clientId)
    if (client === undefined) return
    presence.clients.delete(clientId)
    const visitor = presence.visitors.get(client.visitorId)
    if (visitor !== undefined && --visitor.count <= 0) {
      presence.visitors.delete(client.visitorId)
      this.#emitPresence(channel, 'leave', { id: client.visitorId })
      this.#lifecycle({ type: 'presence.leave', channel, member: { id: client.visitorId } })
    }
    if (presence.clients.size === 0) this.#presence.delete(channel)
  }

  #emitPresence (channel: string, action: 'join' | 'leave', who: PresenceMember): void {
    if (this.#subscribed.has(channel)) this.#handler?.onPresence({ channel, action, member: who })
  }

  #lifecycle (event: LifecycleEvent): void {
    this.#handler?.onLifecycle?.(event)
  }

  #assertOpen (): void {
    if (this.#closed) throw new Error('fastify-realtime: the memory adapter is closed')
  }
}
