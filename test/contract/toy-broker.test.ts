/**
 * A toy broker, written from docs/architecture.md's "Broker" list alone: in memory, one process,
 * no sweeps. It passes the broker contract suite, and a node built from it (with the memory
 * adapter's presence and shared state) serves a subscribe, publish and recovery round trip over a
 * real WebSocket: what a new broker's author has to write, and nothing more.
 */
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { MemoryAdapter, type RealtimeAdapter } from '../../src/index.js'
import type { Broker, BrokerHandler, ControlMessage, Publication, PublishOptions, RecentResult, SinceResult, StreamPosition } from '../../src/adapters/broker.js'
import { publishFingerprint } from '../../src/adapters/fingerprint.js'
import { IdempotencyKeyReusedError } from '../../src/errors.js'
import { answer, channelsApp, frame, offsets, send } from '../helpers/channels-app.js'
import { connect } from '../helpers/ws-client.js'
import { runBrokerContract } from './adapter-contract.js'

interface ToyStream { epoch: string, offset: number, kept: Array<{ publication: Publication, expiresAt: number }> }

/** The toy: a stream per channel, a set of subscribed channels, a map of idempotency keys. */
class ToyBroker implements Broker {
  readonly name = 'toy'
  readonly #streams = new Map<string, ToyStream>()
  readonly #subscribed = new Set<string>()
  readonly #keys = new Map<string, { first: Publication, fingerprint: string, expiresAt: number }>()
  #handler: BrokerHandler | null = null

  async init (handler: BrokerHandler): Promise<void> { this.#handler = handler }

  async publish (channel: string, data: unknown, options: PublishOptions): Promise<Publication> {
    const now = Date.now()
    const stream = this.#stream(channel)
    const key = options.idempotencyKey === undefined ? undefined : `${channel} ${options.idempotencyKey}`
    const fingerprint = options.idempotencyFingerprint ?? publishFingerprint(channel, data)
    const remembered = key === undefined ? undefined : this.#keys.get(key)
    if (remembered !== undefined && remembered.expiresAt > now) {
      if (remembered.fingerprint !== fingerprint) throw new IdempotencyKeyReusedError()
      return { ...remembered.first, data, duplicate: true }
    }
    const publication: Publication = { channel, offset: ++stream.offset, epoch: stream.epoch, data, t: now }
    if (key !== undefined) this.#keys.set(key, { first: publication, fingerprint, expiresAt: now + (options.idempotencyTtlMs ?? 0) })
    stream.kept.push({ publication, expiresAt: now + options.historyTtlMs })
    stream.kept = stream.kept.slice(Math.max(0, stream.kept.length - options.historySize))
    if (this.#subscribed.has(channel)) this.#handler?.onPublication(publication)
    return publication
  }

  async subscribe (channel: string): Promise<void> { this.#subscribed.add(channel) }
  async unsubscribe (channel: string): Promise<void> { this.#subscribed.delete(channel) }

  async since (channel: string, position: StreamPosition): Promise<SinceResult> {
    const { position: current, publications } = await this.recent(channel, Infinity)
    const missed = publications.filter((publication) => publication.offset > position.offset)
    const complete = position.offset === current.offset || missed[0]?.offset === position.offset + 1
    if (position.epoch === current.epoch && position.offset <= current.offset && complete) return { position: current, recovered: true, publications: missed }
    return { position: current, recovered: false, publications }
  }

  async recent (channel: string, limit: number): Promise<RecentResult> {
    const stream = this.#stream(channel)
    const live = stream.kept.filter((kept) => kept.expiresAt > Date.now()).map((kept) => kept.publication)
    return { position: { offset: stream.offset, epoch: stream.epoch }, publications: limit > 0 ? live.slice(-limit) : [] }
  }

  async control (message: ControlMessage): Promise<void> {
    this.#handler?.onControl?.(structuredClone(message))
  }

  async close (): Promise<void> { this.#handler = null }

  /** Lose every stream: the next use of a channel starts a new epoch. */
  forget (): void { this.#streams.clear() }

  #stream (channel: string): ToyStream {
    let stream = this.#streams.get(channel)
    if (stream === undefined) this.#streams.set(channel, stream = { epoch: randomUUID(), offset: 0, kept: [] })
    return stream
  }
}

t.test('the toy broker passes the broker contract suite', async (t) => {
  runBrokerContract(t, {
    create: async () => new ToyBroker(),
    loseHistory: async (broker) => { broker.forget(); return broker }
  })
})

/**
 * A full adapter from the toy broker and a memory adapter's presence and shared state. The memory
 * adapter also follows the subscriptions, for what it keeps beside them (occupancy, presence events).
 */
function toyNode (broker: ToyBroker, local: MemoryAdapter): RealtimeAdapter {
  return {
    name: 'toy+memory',
    init: async (handler) => { await broker.init(handler); await local.init({ onPublication: () => {}, onPresence: handler.onPresence, onLifecycle: handler.onLifecycle }) },
    publish: async (channel, data, options) => await broker.publish(channel, data, options),
    subscribe: async (channel) => { await broker.subscribe(channel); await local.subscribe(channel) },
    unsubscribe: async (channel) => { await broker.unsubscribe(channel); await local.unsubscribe(channel) },
    since: async (channel, position) => await broker.since(channel, position),
    recent: async (channel, limit) => await broker.recent(channel, limit),
    control: async (message) => { await broker.control(message) },
    presenceAdd: async (channel, entry, ttlMs) => { await local.presenceAdd(channel, entry, ttlMs) },
    presenceRemove: async (channel, clientId) => { await local.presenceRemove(channel, clientId) },
    presence: async (channel) => await local.presence(channel),
    stateSet: async (key, value, ttlMs) => { await local.stateSet(key, value, ttlMs) },
    stateClaim: async (key, value, ttlMs) => await local.stateClaim(key, value, ttlMs),
    stateGet: async (key) => await local.stateGet(key),
    stateDelete: async (key) => { await local.stateDelete(key) },
    close: async () => { await broker.close(); await local.close() }
  }
}

t.test('a node on the toy broker serves subscribe, publish and recovery over a real socket', async (t) => {
  const broker = new ToyBroker()
  const { app, ws } = await channelsApp(t, { adapter: toyNode(broker, new MemoryAdapter()) })
  const first = await connect(ws)
  send(first, { type: 'sub', channel: 'feed', id: 1 })
  await answer(first, 1)
  for (let n = 1; n <= 3; n++) await app.realtime.publish('feed', n)
  const last = await frame(first, (f) => f.type === 'pub' && f.offset === 3)
  t.same(first.ofType('pub').map((f) => f.data), [1, 2, 3], 'live publications arrive through the toy broker')
  await first.close()
  for (let n = 4; n <= 6; n++) await app.realtime.publish('feed', n)

  const again = await connect(ws)
  t.teardown(() => again.close())
  send(again, { type: 'sub', channel: 'feed', id: 2, since: { offset: last.offset, epoch: last.epoch } })
  t.match(await answer(again, 2), { type: 'ack', recovered: true, offset: 6, epoch: last.epoch }, 'the gap is recovered from the toy broker\'s history')
  await app.realtime.publish('feed', 7)
  await frame(again, (f) => f.type === 'pub' && f.offset === 7)
  t.same(offsets(again, 'feed'), [4, 5, 6, 7], 'exactly what was missed, then live')
})
