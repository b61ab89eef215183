/**
 * The node's side of a gap (channels/local-channels.ts, subscription.ts, requests.ts): the adapter
 * tells it that publications of a channel were lost on their way (`onGap`), and every subscriber
 * behind the position gets one `gap` frame, in order with its `pub` frames; a subscriber already
 * past it gets none; a subscribe still completing gets it after its ack and replay, in the order
 * it arrived among the publications held meanwhile.
 */
import pino from 'pino'
import t from 'tap'
import { ChannelService } from '../../../src/channels/channel-service.js'
import { noopMetrics, type StreamGapOutcome } from '../../../src/metrics/metrics.js'
import { RealtimeNode } from '../../../src/node/realtime-node.js'
import { resolveOptions } from '../../../src/options.js'
import type { TestLike } from '../../helpers/app.js'
import { FakeConnection } from '../../helpers/fake-connection.js'
import type { Frame } from '../../helpers/ws-client.js'
import { ScriptedAdapter } from '../../helpers/scripted-adapter.js'

const settle = async (): Promise<void> => { for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve)) }

async function setup (t: TestLike): Promise<{ adapter: ScriptedAdapter, service: ChannelService, connect: () => FakeConnection, gaps: StreamGapOutcome[] }> {
  const adapter = new ScriptedAdapter()
  const options = resolveOptions({ tickIntervalMs: 0, heartbeatIntervalMs: 0, channels: [{ name: 'room', historySize: 10 }] })
  const log = pino({ level: 'silent' })
  const node = new RealtimeNode(options, log)
  const gaps: StreamGapOutcome[] = []
  const metrics = { ...noopMetrics, streamGap: (outcome: StreamGapOutcome) => { gaps.push(outcome) } }
  const service = new ChannelService({ registry: options.channels, adapter, maxSubscriptionsPerConnection: 8, maxRecoveryReplay: 1000, presenceTtlMs: 30_000, idempotencyTtlMs: 60_000, metrics, log })
  service.attach(node)
  await service.start()
  t.teardown(() => service.close())
  const connect = (): FakeConnection => {
    const connection = new FakeConnection(node.connectionShared)
    node.accept(connection)
    return connection
  }
  return { adapter, service, connect, gaps }
}

const stream = (client: FakeConnection): string[] => client.frames
  .filter((frame: Frame) => frame.type === 'pub' || frame.type === 'gap' || frame.type === 'ack')
  .map((frame) => `${frame.type} ${String(frame.offset)}${frame.type === 'gap' ? ` recovered=${String(frame.recovered)}` : ''}`)

t.test('a live subscriber behind the gap is told once, in order; a position it is already past is not told', async (t) => {
  const { adapter, service, connect, gaps } = await setup(t)
  const client = connect()
  client.clientSends({ type: 'sub', channel: 'room', id: 1 })
  await settle()
  await service.publish('room', 'one')
  await settle()
  const { epoch } = (await adapter.memory.recent('room', 0)).position
  adapter.injectGap('room', { epoch, offset: 3 })
  adapter.inject({ channel: 'room', offset: 4, epoch, data: 'four', t: Date.now() })
  t.same(stream(client), ['ack 0', 'pub 1', 'gap 3 recovered=false', 'pub 4'], 'told at the position, then what follows')
  t.same(client.ofType('gap'), [{ type: 'gap', channel: 'room', offset: 3, epoch, recovered: false }])
  adapter.injectGap('room', { epoch, offset: 2 })
  t.same(stream(client).slice(4), [], 'a position it is past: nothing')
  adapter.injectGap('room', { epoch: 'another', offset: 0 }, 'epoch')
  t.same(stream(client).slice(4), ['gap 0 recovered=false'], 'another epoch: told')
  t.same(gaps, ['trimmed', 'trimmed', 'epoch'], 'counted once per gap the adapter tells')
})

t.test('a subscribe still completing gets the gap after its ack, in order with what it held', async (t) => {
  const { adapter, service, connect } = await setup(t)
  await service.publish('room', 'one')
  const { epoch } = (await adapter.memory.recent('room', 0)).position
  const client = connect()
  const held = adapter.hold('recent')
  client.clientSends({ type: 'sub', channel: 'room', id: 1 })
  await held
  // While its position is read: a publication, a gap, another publication.
  adapter.inject({ channel: 'room', offset: 2, epoch, data: 'two', t: Date.now() })
  adapter.injectGap('room', { epoch, offset: 4 })
  adapter.inject({ channel: 'room', offset: 5, epoch, data: 'five', t: Date.now() })
  adapter.open('recent')
  await settle()
  t.same(stream(client), ['ack 1', 'pub 2', 'gap 4 recovered=false', 'pub 5'])
})
