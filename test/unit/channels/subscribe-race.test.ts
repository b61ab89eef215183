/**
 * The subscribe flow's races, made to happen on purpose: a scripted adapter holds the call a
 * subscribe is waiting on while the client unsubscribes (or publications pour in, or the stream
 * changes epoch), then lets it go. Each checkpoint of channels/requests.ts must give up cleanly:
 * the request answered `cancelled`, nothing replayed or acked, no subscriber, adapter subscription
 * or presence entry left behind.
 */
import pino from 'pino'
import t from 'tap'
import { ChannelService } from '../../../src/channels/channel-service.js'
import type { ChannelDefinition } from '../../../src/channels/policy.js'
import { MAX_PENDING_PUBLICATIONS } from '../../../src/channels/subscription.js'
import { noopMetrics } from '../../../src/metrics/metrics.js'
import { RealtimeNode } from '../../../src/node/realtime-node.js'
import type { Visitor } from '../../../src/node/visitor.js'
import { resolveOptions } from '../../../src/options.js'
import type { TestLike } from '../../helpers/app.js'
import { FakeConnection } from '../../helpers/fake-connection.js'
import { ScriptedAdapter } from '../../helpers/scripted-adapter.js'

const ANN: Visitor = { id: 'ann', name: 'Ann' }

/** Let every pending promise callback run. */
const settle = async (): Promise<void> => { for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve)) }

async function setup (t: TestLike, channels: ChannelDefinition[]): Promise<{ adapter: ScriptedAdapter, service: ChannelService, connect: (visitor?: Visitor) => FakeConnection }> {
  const adapter = new ScriptedAdapter()
  const options = resolveOptions({ tickIntervalMs: 0, heartbeatIntervalMs: 0, channels })
  const log = pino({ level: 'silent' })
  const node = new RealtimeNode(options, log)
  const service = new ChannelService({ registry: options.channels, adapter, maxSubscriptionsPerConnection: 8, maxRecoveryReplay: 1000, presenceTtlMs: 30_000, idempotencyTtlMs: 60_000, metrics: noopMetrics, log })
  service.attach(node)
  await service.start()
  t.teardown(() => service.close())
  const connect = (visitor?: Visitor): FakeConnection => {
    const connection = new FakeConnection(node.connectionShared, visitor ?? null)
    node.accept(connection)
    return connection
  }
  return { adapter, service, connect }
}

/** The answers (ack or error) a client got, by request id. */
const answers = (client: FakeConnection): Record<string, string> =>
  Object.fromEntries(client.frames.filter((frame) => frame.id !== undefined).map((frame) => [String(frame.id), frame.type === 'error' ? `error:${String(frame.code)}` : frame.type]))

t.test('unsubscribed while canSubscribe decides: cancelled, and the adapter is never subscribed', async (t) => {
  let decide = (_allowed: boolean): void => {}
  const hook = new Promise<boolean>((resolve) => { decide = resolve })
  const { adapter, service, connect } = await setup(t, [{ name: 'room', canSubscribe: async () => await hook }])
  const client = connect()
  client.clientSends({ type: 'sub', channel: 'room', id: 'sub' })
  client.clientSends({ type: 'unsub', channel: 'room', id: 'unsub' })
  decide(true)
  await settle()
  t.same(answers(client), { sub: 'error:cancelled', unsub: 'ack' })
  t.same(adapter.calls.filter((call) => call.call === 'subscribe'), [], 'the adapter was never asked to subscribe')
  t.equal(service.activeChannels, 0)
})

t.test('unsubscribed while the adapter subscribes: cancelled, then the adapter is unsubscribed, in that order', async (t) => {
  const { adapter, service, connect } = await setup(t, [{ name: 'room' }])
  const client = connect()
  const held = adapter.hold('subscribe')
  client.clientSends({ type: 'sub', channel: 'room', id: 'sub' })
  await held
  client.clientSends({ type: 'unsub', channel: 'room', id: 'unsub' })
  adapter.open('subscribe')
  await settle()
  t.same(answers(client), { sub: 'error:cancelled', unsub: 'ack' })
  t.same(adapter.calls.filter((call) => call.call === 'subscribe' || call.call === 'unsubscribe').map((call) => call.call), ['subscribe', 'unsubscribe'], 'unsubscribe waits for the subscribe it undoes')
  t.same(adapter.calls.filter((call) => call.call === 'recent' || call.call === 'since'), [], 'a cancelled subscribe reads no history')
  t.equal(service.activeChannels, 0)
  await service.publish('room', 'after')
  await settle()
  t.same(client.ofType('pub'), [], 'nothing of the channel reaches the client afterwards')
})

t.test('unsubscribed while the history is read: cancelled, nothing replayed, what arrived meanwhile dropped', async (t) => {
  const { adapter, service, connect } = await setup(t, [{ name: 'room', historySize: 10 }])
  await service.publish('room', 'before')
  const client = connect()
  const held = adapter.hold('since')
  client.clientSends({ type: 'sub', channel: 'room', id: 'sub', since: { offset: 0, epoch: (await adapter.memory.recent('room', 0)).position.epoch } })
  await held
  await service.publish('room', 'meanwhile')
  client.clientSends({ type: 'unsub', channel: 'room', id: 'unsub' })
  adapter.open('since')
  await settle()
  t.same(answers(client), { sub: 'error:cancelled', unsub: 'ack' })
  t.same(client.ofType('pub'), [], 'neither the history nor the buffered publication was sent')
  t.equal(service.activeChannels, 0)
})

t.test('unsubscribed while the presence entry is added: cancelled, and the entry is taken away again', async (t) => {
  const { adapter, service, connect } = await setup(t, [{ name: 'room', presence: true }])
  const watcher = connect({ id: 'bob' })
  watcher.clientSends({ type: 'sub', channel: 'room', id: 'w' })
  await settle()
  const client = connect(ANN)
  const held = adapter.hold('presenceAdd')
  client.clientSends({ type: 'sub', channel: 'room', id: 'sub' })
  await held
  const callsBefore = adapter.calls.length
  client.clientSends({ type: 'unsub', channel: 'room', id: 'unsub' })
  adapter.open('presenceAdd')
  await settle()
  t.same(answers(client), { sub: 'error:cancelled', unsub: 'ack' })
  t.notOk(adapter.calls.slice(callsBefore).some((call) => call.call === 'presence'), 'a cancelled subscribe reads no presence snapshot')
  t.same(await service.presence('room'), [{ id: 'bob' }], 'Ann is not left in the channel')
  const calls = adapter.calls.filter((call) => call.call === 'presenceAdd' || call.call === 'presenceRemove').map((call) => call.call)
  t.same(calls.slice(-2), ['presenceAdd', 'presenceRemove'], 'the entry made for the cancelled subscribe is removed after it was added')
  t.same(watcher.ofType('presence').map((frame) => `${String(frame.action)}:${String((frame.member as { id?: string } | undefined)?.id ?? '')}`), ['snapshot:', 'join:ann', 'leave:ann'], 'the others see her come and go, never stay')
})

t.test('unsubscribed while the presence snapshot is read: cancelled, entry removed', async (t) => {
  const { adapter, service, connect } = await setup(t, [{ name: 'room', presence: true }])
  const client = connect(ANN)
  const held = adapter.hold('presence')
  client.clientSends({ type: 'sub', channel: 'room', id: 'sub' })
  await held
  client.clientSends({ type: 'unsub', channel: 'room', id: 'unsub' })
  adapter.open('presence')
  await settle()
  t.same(answers(client), { sub: 'error:cancelled', unsub: 'ack' })
  t.same(await service.presence('room'), [])
})

t.test('the connection closes mid-subscribe: nothing is sent to it, nothing is left behind', async (t) => {
  const { adapter, service, connect } = await setup(t, [{ name: 'room', presence: true }])
  const client = connect(ANN)
  const held = adapter.hold('recent')
  client.clientSends({ type: 'sub', channel: 'room', id: 'sub' })
  await held
  client.clientCloses()
  adapter.open('recent')
  await settle()
  t.same(client.frames.map((frame) => frame.type), ['welcome'], 'no answer to a closed connection')
  t.equal(service.activeChannels, 0)
  t.same(await service.presence('room'), [])
})

t.test('more publications than the pending limit while subscribing: subscribe_failed, cleanly, and a retry works', async (t) => {
  const { adapter, service, connect } = await setup(t, [{ name: 'feed' }])
  const client = connect()
  const held = adapter.hold('recent')
  client.clientSends({ type: 'sub', channel: 'feed', id: 'sub' })
  await held
  for (let i = 0; i <= MAX_PENDING_PUBLICATIONS; i++) await adapter.memory.publish('feed', i, { historySize: 0, historyTtlMs: 1000 })
  adapter.open('recent')
  await settle()
  t.same(answers(client), { sub: 'error:subscribe_failed' })
  t.same(client.ofType('pub'), [], 'none of the overflowing publications was sent')
  t.ok(client.isOpen, 'the connection stays open')
  t.equal(service.activeChannels, 0)
  client.clientSends({ type: 'sub', channel: 'feed', id: 'again' })
  await settle()
  t.equal(answers(client).again, 'ack', 'a new subscribe succeeds')
})

t.test('the stream changes epoch while the subscribe is pending: the new epoch goes out once, in order', async (t) => {
  const { adapter, connect } = await setup(t, [{ name: 'feed', historySize: 10 }])
  const client = connect()
  const held = adapter.hold('recent')
  client.clientSends({ type: 'sub', channel: 'feed', id: 'sub' })
  await held
  const reset = { channel: 'feed', epoch: 'after-reset', data: 'x', t: Date.now() }
  adapter.inject({ ...reset, offset: 1 })
  adapter.inject({ ...reset, offset: 1 })
  adapter.inject({ ...reset, offset: 2 })
  adapter.open('recent')
  await settle()
  const ack = client.ofType('ack')[0]
  t.not(ack?.epoch, 'after-reset', 'the ack carries the position read before the reset')
  t.same(client.ofType('pub').map((frame) => `${String(frame.epoch)}:${String(frame.offset)}`), ['after-reset:1', 'after-reset:2'], 'the new epoch is visible in the frames, each offset once')
  adapter.inject({ ...reset, offset: 2 })
  adapter.inject({ ...reset, offset: 3 })
  t.same(client.ofType('pub').map((frame) => frame.offset), [1, 2, 3], 'live, duplicates are still refused')
})

t.test('fan-out: a publication and a presence change are framed once for every subscriber of the node', async (t) => {
  const { service, connect } = await setup(t, [{ name: 'room', presence: true }])
  const clients = [connect(ANN), connect({ id: 'bob' }), connect()]
  for (const client of clients) client.clientSends({ type: 'sub', channel: 'room', id: 'sub' })
  await settle()
  await service.publish('room', { text: 'hello' })
  const frames = clients.map((client) => client.written.at(-1))
  t.ok(frames.every((frame) => frame !== undefined && frame === frames[0]), 'the same frame object reached all three')
  t.match(clients[2]?.ofType('pub')[0], { channel: 'room', offset: 1, data: { text: 'hello' } })
  connect({ id: 'cleo' }).clientSends({ type: 'sub', channel: 'room', id: 'late' })
  await settle()
  const joins = clients.map((client) => client.written.findLast((frame) => frame.text.includes('"action":"join"')))
  t.ok(joins.every((frame) => frame !== undefined && frame === joins[0]), 'a join is framed once too')
})
