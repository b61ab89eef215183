/**
 * Two wire protocols on one node, over real WebSockets: ours, and a test-only "shouty" protocol
 * (our JSON with the frame types in upper case, and no ticks) picked by the path the client
 * opened, as a route of its own picks a protocol. Each connection speaks its own: its frames are
 * decoded by its protocol, a publication reaches the subscribers of both, framed once per
 * protocol, a protocol with no `tick` gets none, and a close code goes out in its protocol's number.
 *
 * The node is built as the plugin builds it (a RealtimeNode, a ChannelService, a
 * WebSocketConnection per socket), on a bare `ws` server: choosing a protocol by route is the
 * plugin's part, and this is the seam it will use.
 */
import type { AddressInfo } from 'node:net'
import pino from 'pino'
import t from 'tap'
import { WebSocketServer } from 'ws'
import { MemoryAdapter } from '../../src/adapters/memory.js'
import { ChannelService } from '../../src/channels/channel-service.js'
import { CloseCode } from '../../src/errors.js'
import { noopMetrics } from '../../src/metrics/metrics.js'
import { RealtimeNode } from '../../src/node/realtime-node.js'
import { resolveOptions } from '../../src/options.js'
import { ourProtocol } from '../../src/protocols/ours/protocol.js'
import type { ServerMessage } from '../../src/protocols/ours/server-messages.js'
import type { WireProtocol } from '../../src/protocols/protocol.js'
import { WebSocketConnection } from '../../src/transports/websocket.js'
import type { Connection } from '../../src/node/connection.js'
import type { TestLike } from '../helpers/app.js'
import { connect, type RecordingClient } from '../helpers/ws-client.js'

/** A protocol that counts what it encodes and decodes, by type. */
type Counted = WireProtocol & { encodes: Record<string, number>, decodes: number }

function counting (protocol: WireProtocol): Counted {
  const counted: Counted = {
    ...protocol,
    encodes: {},
    decodes: 0,
    decode: (text) => {
      counted.decodes++
      return protocol.decode(text)
    },
    encode: (message) => {
      counted.encodes[message.type] = (counted.encodes[message.type] ?? 0) + 1
      return protocol.encode(message)
    }
  }
  return counted
}

/** Shouty's close code for a server going away (ours sends 1001). */
const SHOUTY_GOING_AWAY = 4001

/** Our JSON, frame types in upper case both ways; no ticks; its own code for a server going away. */
const shoutyProtocol: WireProtocol = {
  name: 'shouty',
  decode: (text) => {
    let value: unknown
    try {
      value = JSON.parse(text)
    } catch {
      return ourProtocol.decode(text)
    }
    if (typeof value !== 'object' || value === null || !('type' in value) || typeof value.type !== 'string') return ourProtocol.decode(text)
    return ourProtocol.decode(JSON.stringify({ ...value, type: value.type.toLowerCase() }))
  },
  requestIdOf: ourProtocol.requestIdOf,
  encode: (message: ServerMessage) => message.type === 'tick' ? null : JSON.stringify({ ...message, type: message.type.toUpperCase() }),
  closeCode: (code) => code === CloseCode.GOING_AWAY ? SHOUTY_GOING_AWAY : code
}

/** One node, three routes: `/shouty` and `/ours` choose those protocols; any other path chooses none (ours, by default). */
async function twoProtocolNode (t: TestLike): Promise<{ url: string, ours: Counted, shouty: Counted, node: RealtimeNode, service: ChannelService, made: Connection[] }> {
  const ours = counting(ourProtocol)
  const shouty = counting(shoutyProtocol)
  const options = resolveOptions({ tickIntervalMs: 40, heartbeatIntervalMs: 0, channels: [{ name: 'room' }] })
  const log = pino({ level: 'silent' })
  const node = new RealtimeNode(options, log)
  const service = new ChannelService({ registry: options.channels, adapter: new MemoryAdapter(), maxSubscriptionsPerConnection: 8, maxRecoveryReplay: 1000, presenceTtlMs: 30_000, idempotencyTtlMs: 60_000, metrics: noopMetrics, log })
  service.attach(node)
  await service.start()
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 })
  await new Promise<void>((resolve) => server.once('listening', resolve))
  const made: Connection[] = []
  // The route picks the protocol; the connection carries it from then on.
  server.on('connection', (socket, request) => {
    const info = { ip: '127.0.0.1', visitor: null, requestId: 'req' }
    const protocol = request.url === '/shouty' ? shouty : request.url === '/ours' ? ours : undefined
    const connection = new WebSocketConnection(socket, request.socket, node.connectionShared, protocol === undefined ? info : { ...info, protocol })
    made.push(connection)
    node.accept(connection)
  })
  t.teardown(async () => {
    await node.drain(500)
    await service.close()
    await new Promise((resolve) => server.close(resolve))
  })
  return { url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}`, ours, shouty, node, service, made }
}

t.test('each connection speaks its own protocol; a publication reaches both, framed once per protocol', async (t) => {
  const { url, ours, shouty, node, service } = await twoProtocolNode(t)
  // Shouty connects first: its connections' ticks are due before ours in every round.
  const loud: RecordingClient[] = [await connect(`${url}/shouty`), await connect(`${url}/shouty`)]
  const plain: RecordingClient[] = [await connect(`${url}/ours`), await connect(`${url}/ours`)]
  for (const client of loud) await client.waitFor('WELCOME')
  for (const client of plain) await client.waitFor('welcome')

  // Decoded by each connection's own protocol: SUB is shouty's, and unknown to ours.
  for (const client of loud) client.socket.send(JSON.stringify({ type: 'SUB', channel: 'room', id: 'join' }))
  for (const client of plain) client.socket.send(JSON.stringify({ type: 'sub', channel: 'room', id: 'join' }))
  for (const client of loud) t.match((await client.waitFor('ACK'))[0], { type: 'ACK', id: 'join', channel: 'room' }, 'shouty\'s SUB was read and answered in shouty')
  for (const client of plain) await client.waitFor('ack')
  plain[0]?.socket.send(JSON.stringify({ type: 'SUB', channel: 'room', id: 'shout' }))
  t.match((await plain[0]?.waitFor('error'))?.[0], { code: 'unknown_type', id: 'shout' }, 'ours does not read shouty\'s frames')
  t.equal(shouty.decodes, 2, 'shouty decoded its two clients\' frames')
  t.equal(ours.decodes, 3, 'ours decoded its clients\' three frames')

  ours.encodes.pub = 0
  shouty.encodes.pub = 0
  await service.publish('room', { n: 1 })
  for (const client of loud) t.match((await client.waitFor('PUB'))[0], { type: 'PUB', channel: 'room', offset: 1, data: { n: 1 } })
  for (const client of plain) t.match((await client.waitFor('pub'))[0], { type: 'pub', channel: 'room', offset: 1, data: { n: 1 } })
  t.equal(ours.encodes.pub, 1, 'ours framed the publication once for its two subscribers')
  t.equal(shouty.encodes.pub, 1, 'shouty framed it once for its two subscribers')

  // Shouty has no ticks: asked (its connections are due first), it answers none, and none reach them.
  await plain[0]?.waitFor('tick', 2)
  t.ok((shouty.encodes.tick ?? 0) >= 1, 'shouty was asked for a tick')
  for (const client of loud) t.same(client.frames.filter((frame) => frame.type.toLowerCase() === 'tick'), [], 'no tick reached a shouty client')

  // A close goes out in each protocol's own code.
  const closes = Promise.all([...loud, ...plain].map(async (client) => (await client.closed).code))
  await node.drain(500)
  t.same(await closes, [SHOUTY_GOING_AWAY, SHOUTY_GOING_AWAY, CloseCode.GOING_AWAY, CloseCode.GOING_AWAY], 'shouty\'s clients see its code, ours see 1001')
})

t.test('a connection made without a protocol (as the plugin makes them today) speaks ours', async (t) => {
  const { url, made } = await twoProtocolNode(t)
  const client = await connect(`${url}/`)
  await client.waitFor('welcome')
  t.equal(made[0]?.protocol, ourProtocol, 'ours by default')
  await client.close()
})
