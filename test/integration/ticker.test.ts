import t from 'tap'
import type { WebSocketConnection } from '../../src/transports/websocket.js'
import type { ConnectionInfo, RealtimePluginOptions } from '../../src/index.js'
import { RealtimeSocket } from '../../src/transports/realtime-socket.js'
import type { TestLike } from '../helpers/app.js'
import { bareApp, rawUpgrade, type BareApp } from '../helpers/realtime-app.js'
import { connect, sleep } from '../helpers/ws-client.js'

/** The shared bare app, ticking every 100 ms with the connection count, recording its connections. */
async function tickerApp (t: TestLike, options: RealtimePluginOptions = {}): Promise<BareApp & { connections: ConnectionInfo[] }> {
  const connections: ConnectionInfo[] = []
  const app = await bareApp(t, { tickIntervalMs: 100, tick: ({ connections }) => ({ connections }), onConnection: (c) => connections.push(c), ...options })
  return { ...app, connections }
}

/** Count occurrences of a string in a buffer's latin1 text (frames are unmasked server frames). */
function countIn (buffer: Buffer, needle: string): number {
  return buffer.toString('latin1').split(needle).length - 1
}

t.test('ticks arrive at the configured cadence with increasing seq and server time', async (t) => {
  const { ws } = await tickerApp(t)
  const client = await connect(`${ws}/ws`)
  const ticks = await client.waitFor('tick', 6, 5000)
  const seqs = ticks.map((tick) => tick.seq as number)
  t.ok(seqs.every((seq, i) => i === 0 || seq > (seqs[i - 1] ?? 0)), `seq increases: ${seqs.join(',')}`)
  const times = ticks.map((tick) => tick.t as number)
  const gaps = times.slice(1).map((time, i) => time - (times[i] ?? 0))
  const mean = gaps.reduce((sum, gap) => sum + gap, 0) / gaps.length
  t.ok(mean > 80 && mean < 160, `mean gap ${mean.toFixed(1)} ms for a 100 ms interval (gaps ${gaps.join(',')})`)
  t.same(ticks[0]?.data, { connections: 1 }, 'data comes from the tick option')
  await client.close()
})

t.test('closing stops the ticks, the timer and every listener the connection added', async (t) => {
  const { app, connections, ws, logs } = await tickerApp(t)
  const clients = await Promise.all([connect(`${ws}/ws`), connect(`${ws}/ws`), connect(`${ws}/ws`)])
  await Promise.all(clients.map((client) => client.waitFor('tick', 1)))
  // onConnection hands out the public ConnectionInfo; the object is the server's Connection.
  const serverSockets = connections.map((connection) => (connection as WebSocketConnection).socket)
  t.equal(app.realtime.connections, 3)
  t.ok(serverSockets.every((socket, i) => socket instanceof RealtimeSocket && socket.eventSink === (connections[i] as WebSocketConnection)), 'each socket hands its events to its own connection')
  t.same(serverSockets.map((socket) => socket.listenerCount('message') + socket.listenerCount('close') + socket.listenerCount('pong')), [0, 0, 0], 'with no listener per socket while open')
  await Promise.all(clients.map((client) => client.close()))
  await logs.waitFor('client disconnected', () => logs.withMessage('client disconnected').length === 3)
  t.equal(app.realtime.connections, 0, 'hub is empty')
  t.ok(serverSockets.every((socket) => socket instanceof RealtimeSocket && socket.eventSink === null), 'each socket let go of its connection')
  t.same(serverSockets.map((socket) => socket.listenerCount('message')), [0, 0, 0], 'no message listener')
  // ws's clientTracking is off (the hub is the only registry), so no close listener at all remains.
  t.same(serverSockets.map((socket) => socket.listenerCount('close')), [0, 0, 0], 'no close listener')
  const sentAtClose = app.realtime.stats().ticksSent
  const handlesBefore = process.getActiveResourcesInfo().filter((name) => name === 'Timeout').length
  await sleep(350)
  t.equal(app.realtime.stats().ticksSent, sentAtClose, 'no tick after the sockets closed')
  const handlesAfter = process.getActiveResourcesInfo().filter((name) => name === 'Timeout').length
  t.ok(handlesAfter <= handlesBefore, `no timer left running (${handlesBefore} → ${handlesAfter})`)
  t.equal(clients.every((client) => client.ofType('tick').length >= 1), true)
})

t.test('ticks are sent only while the socket is OPEN (not while it is closing)', async (t) => {
  const { app, connections, port } = await tickerApp(t)
  const raw = await rawUpgrade(port)
  // The raw client never answers anything by itself: collect what arrives, never reply.
  const chunks: Buffer[] = [raw.rest]
  raw.socket.on('data', (chunk: Buffer) => { chunks.push(chunk) })
  const received = (): Buffer => Buffer.concat(chunks)
  const ended = new Promise((resolve) => raw.socket.once('close', resolve))
  // A tick arrives when the loaded machine gets to it: wait for one rather than a fixed 250 ms.
  for (const started = Date.now(); countIn(received(), '"type":"tick"') === 0 && Date.now() - started < 10_000;) await sleep(10)
  t.ok(countIn(received(), '"type":"tick"') >= 1, 'ticks while open')
  // The raw client never answers the close frame, so the server socket stays CLOSING.
  connections[0]?.close(1000, 'bye')
  const ticksAtClose = countIn(received(), '"type":"tick"')
  const sentAtClose = app.realtime.stats().ticksSent
  await sleep(400)
  t.equal(app.realtime.stats().ticksSent, sentAtClose, 'the ticker skipped the CLOSING socket')
  t.equal(countIn(received(), '"type":"tick"'), ticksAtClose, 'nothing more arrived')
  raw.socket.destroy()
  await ended
})

t.test('tickIntervalMs 0 turns the ticker off', async (t) => {
  const { ws } = await tickerApp(t, { tickIntervalMs: 0 })
  const client = await connect(`${ws}/ws`)
  const [welcome] = await client.waitFor('welcome')
  t.equal(welcome?.tickIntervalMs, 0)
  await sleep(300)
  t.equal(client.ofType('tick').length, 0)
  await client.close()
})

t.test('a tick producer that throws skips its batch and the ticker goes on', async (t) => {
  let calls = 0
  const { ws, logs } = await tickerApp(t, { tick: () => { if (++calls === 1) throw new Error('boom'); return calls } })
  const client = await connect(`${ws}/ws`)
  await client.waitFor('tick', 2)
  t.ok(logs.withMessage('tick producer failed; batch skipped').length >= 1)
  await client.close()
})
