/**
 * The fast paths on real sockets: prepared frames written straight to the TCP stream reach a ws
 * client intact and in order, interleaved with frames ws sends itself, and leave nothing behind.
 */
import Fastify from 'fastify'
import t from 'tap'
import realtime, { type ConnectionInfo } from '../../src/index.js'
import { pendingSinks } from '../../src/transports/raw-frames.js'
import { WebSocketConnection } from '../../src/transports/websocket.js'
import { listen, type TestLike } from '../helpers/app.js'
import { connect, sleep, type RecordingClient } from '../helpers/ws-client.js'

async function setup (t: TestLike, tickIntervalMs = 0): Promise<{ app: ReturnType<typeof Fastify>, url: string, connections: ConnectionInfo[] }> {
  const connections: ConnectionInfo[] = []
  const app = Fastify({ logger: false })
  await app.register(realtime, { tickIntervalMs, onConnection: (connection) => { connections.push(connection) } })
  t.teardown(() => app.close())
  const { ws } = await listen(app)
  return { app, url: `${ws}/ws`, connections }
}

async function waitUntil (condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const started = Date.now()
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`)
    await sleep(5)
  }
}

t.test('a real socket gets raw frame writes, and a burst of broadcasts arrives whole and in order', async (t) => {
  const { app, url, connections } = await setup(t)
  const clients: RecordingClient[] = []
  for (let i = 0; i < 3; i++) clients.push(await connect(url))
  await waitUntil(() => connections.length === 3, 'three connections')
  for (const connection of connections) {
    t.ok(connection instanceof WebSocketConnection && connection.rawWrites, 'frames go straight to the TCP stream')
  }
  const big = 'x'.repeat(70_000) // a 64-bit length header
  const before = connections.map((connection) => (connection as WebSocketConnection).socket.bufferedAmount)
  for (let i = 0; i < 100; i++) t.equal(app.realtime.broadcast({ i, pad: i % 10 === 0 ? big : 'é' }, { local: true }), 3)
  t.equal(pendingSinks(), 3, 'one corked stream per socket during the turn')
  // A send budget reads ws's bufferedAmount: raw writes must show up in it like ws's own.
  connections.forEach((connection, i) => {
    const queued = (connection as WebSocketConnection).socket.bufferedAmount - (before[i] ?? 0)
    t.ok(queued > 10 * 70_000, `socket ${i}: bufferedAmount counts the raw frames (${queued} bytes)`)
  })
  for (const client of clients) {
    const frames = await client.waitFor('broadcast', 100)
    t.same(frames.map((frame) => (frame.data as { i: number }).i), Array.from({ length: 100 }, (_, i) => i), 'all 100, in order')
    t.equal((frames[50]?.data as { pad: string }).pad.length, 70_000, 'a large frame is intact')
    t.equal((frames[51]?.data as { pad: string }).pad, 'é', 'multi-byte text is intact')
  }
  t.equal(pendingSinks(), 0)
  for (const client of clients) await client.close()
})

t.test('raw frames and ws.send frames to one socket keep their call order', async (t) => {
  const { app, url, connections } = await setup(t)
  const client = await connect(url)
  await waitUntil(() => connections.length === 1, 'the connection')
  const connection = connections[0]
  if (connection === undefined) throw new Error('no connection')
  const expected: string[] = []
  for (let i = 0; i < 50; i++) {
    app.realtime.broadcast(`raw-${i}`, { local: true })
    expected.push(`raw-${i}`)
    // ws's own sender, as ws itself writes its pings and closes.
    ;(connection as WebSocketConnection).socket.send(JSON.stringify({ type: 'broadcast', t: 0, data: `ws-${i}` }))
    expected.push(`ws-${i}`)
  }
  const frames = await client.waitFor('broadcast', 100)
  t.same(frames.map((frame) => frame.data), expected)
  await client.close()
})

t.test('ticks use the shared frame path; closed sockets get nothing and leave no trace', async (t) => {
  const { app, url, connections } = await setup(t, 50)
  const clients = [await connect(url), await connect(url)]
  await waitUntil(() => connections.length === 2, 'two connections')
  const [first, second] = clients
  if (first === undefined || second === undefined) throw new Error('no clients')
  const ticks = await first.waitFor('tick', 3)
  t.same(ticks.map((tick) => typeof tick.t), ['number', 'number', 'number'], 'ticks carry the server time')
  await first.close()
  await waitUntil(() => app.realtime.connections === 1, 'the close to be seen')
  t.equal(connections[0]?.send('late'), false, 'a closed connection refuses text')
  t.equal(app.realtime.broadcast('after close', { local: true }), 1, 'a broadcast reaches only the open socket')
  await second.waitFor('broadcast', 1)
  await second.close()
  await waitUntil(() => app.realtime.connections === 0, 'all closes')
  const stats = app.realtime.stats()
  t.equal(stats.connections, 0)
  t.equal(pendingSinks(), 0, 'no stream left corked')
})

t.test('without a raw TCP stream (injectWS) frames go through ws.send, same bytes to the client', async (t) => {
  const connections: ConnectionInfo[] = []
  const app = Fastify({ logger: false })
  await app.register(realtime, { tickIntervalMs: 0, onConnection: (connection) => { connections.push(connection) } })
  t.teardown(() => app.close())
  await app.ready()
  const received: string[] = []
  const socket = await app.injectWS('/ws', {}, { onInit: (ws) => { ws.on('message', (data) => received.push(data.toString())) } })
  await waitUntil(() => connections.length === 1 && received.length === 1, 'the welcome')
  t.ok(connections[0] instanceof WebSocketConnection && !connections[0].rawWrites, 'no raw stream: the ws.send fallback')
  for (let i = 0; i < 20; i++) app.realtime.broadcast(i, { local: true })
  await waitUntil(() => received.length === 21, 'twenty broadcasts')
  t.same(received.slice(1).map((text) => (JSON.parse(text) as { data: number }).data), Array.from({ length: 20 }, (_, i) => i))
  socket.terminate()
})
