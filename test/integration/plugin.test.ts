import t from 'tap'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import type { WebSocketConnection } from '../../src/transports/websocket.js'
import realtime from '../../src/index.js'
import { RealtimeSocket } from '../../src/transports/realtime-socket.js'
import { LogCapture, listen, testLogger } from '../helpers/app.js'
import { rawUpgrade } from '../helpers/realtime-app.js'
import { connect, sleep } from '../helpers/ws-client.js'

t.test('registered with a prefix in another app it serves <prefix>/ws and decorates the app', async (t) => {
  const app = Fastify()
  app.get('/', async () => ({ hello: 'host app' }))
  await app.register(realtime, { prefix: '/rt', tickIntervalMs: 50, tick: () => 'hi' })
  t.teardown(() => app.close())
  const { ws, http, port } = await listen(app)
  t.same(await (await fetch(`${http}/`)).json(), { hello: 'host app' }, 'the host app\'s routes are untouched')
  const client = await connect(`${ws}/rt/ws`)
  const [tick] = await client.waitFor('tick')
  t.equal(tick?.data, 'hi')
  t.equal(app.realtime.connections, 1)
  await app.realtime.broadcast({ note: 'everyone' }) // every node's sockets: on one node, this one's
  const [broadcast] = await client.waitFor('broadcast')
  t.same(broadcast?.data, { note: 'everyone' })
  const stats = app.realtime.stats()
  t.equal(stats.connections, 1)
  t.equal(stats.connectionsTotal, 1)
  t.ok(stats.ticksSent >= 1)
  t.equal(stats.broadcastsSent, 1)
  t.equal(stats.draining, false)
  await client.close()
  // A real WebSocket handshake over TCP (fetch refuses to send `connection: upgrade`).
  const unprefixed = await rawUpgrade(port, '/ws')
  unprefixed.socket.destroy()
  t.equal(unprefixed.status, 404, 'nothing at /ws without the prefix: the upgrade gets 404')
  const prefixed = await rawUpgrade(port, '/rt/ws')
  prefixed.socket.destroy()
  t.equal(prefixed.status, 101, 'the same handshake at /rt/ws is upgraded')
})

t.test('custom path, and the plugin inside an encapsulated context', async (t) => {
  const app = Fastify()
  await app.register(async (child) => {
    await child.register(realtime, { path: '/live', tickIntervalMs: 0 })
    child.get('/count', async () => ({ connections: child.realtime.connections }))
  }, { prefix: '/api' })
  t.teardown(() => app.close())
  const { ws, http } = await listen(app)
  const client = await connect(`${ws}/api/live`)
  await client.waitFor('welcome')
  t.same(await (await fetch(`${http}/api/count`)).json(), { connections: 1 })
  await client.close()
})

t.test('bad options reject ready() with a coded error', async (t) => {
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ tickIntervalMs: 'soon' }, /tickIntervalMs/],
    [{ path: 'no-slash' }, /path/],
    [{ tick: 'not a function' }, /tick/],
    [{ tickIntervalMS: 100 }, /unknown option/]
  ]
  for (const [options, message] of cases) {
    const app = Fastify()
    app.register(realtime, options)
    await t.rejects(async () => { await app.ready() }, { code: 'FRT_INVALID_OPTION', message }, JSON.stringify(options))
    await app.close()
  }
})

t.test('reuses @fastify/websocket when the app registered it already', async (t) => {
  const app = Fastify()
  await app.register(websocket)
  await app.register(realtime, { tickIntervalMs: 0 })
  t.teardown(() => app.close())
  await app.ready()
  let resolveWelcome: (frame: Record<string, unknown>) => void = () => {}
  const welcome = new Promise<Record<string, unknown>>((resolve) => { resolveWelcome = resolve })
  // The welcome can arrive with the 101: listen from the client's creation, not after open.
  const client = await app.injectWS('/ws', {}, { onInit: (socket) => socket.once('message', (data) => resolveWelcome(JSON.parse(data.toString()) as Record<string, unknown>)) })
  t.equal((await welcome).type, 'welcome')
  t.equal(app.realtime.connections, 1)
  client.terminate()
})

t.test('with the app\'s own @fastify/websocket, plain ws sockets get shared listeners, removed on close', async (t) => {
  const connections: WebSocketConnection[] = []
  const app = Fastify()
  await app.register(websocket)
  // onConnection hands out the public ConnectionInfo; the object is the server's Connection.
  await app.register(realtime, { tickIntervalMs: 0, onConnection: (connection) => { connections.push(connection as WebSocketConnection) } })
  t.teardown(() => app.close())
  const { ws } = await listen(app)
  const clients = await Promise.all([connect(`${ws}/ws`), connect(`${ws}/ws`)])
  await Promise.all(clients.map(async (client) => await client.waitFor('welcome')))
  const sockets = connections.map((connection) => connection.socket)
  t.equal(sockets.length, 2)
  t.ok(sockets.every((socket) => !(socket instanceof RealtimeSocket)), 'the app\'s ws makes plain WebSockets')
  t.same(sockets.map((socket) => socket.listenerCount('message')), [1, 1], 'one message listener each')
  t.equal(sockets[0]?.listeners('message')[0], sockets[1]?.listeners('message')[0], 'the same function for both: no closure per socket')
  // Messages still reach the connection: an unknown channel is answered with an error frame.
  clients[0]?.socket.send(JSON.stringify({ type: 'sub', id: 7, channel: 'nowhere' }))
  const [error] = await clients[0]?.waitFor('error') ?? []
  t.match(error, { id: 7 })
  await Promise.all(clients.map(async (client) => { await client.close() }))
  const deadline = Date.now() + 2000
  while (app.realtime.connections > 0 && Date.now() < deadline) await sleep(10)
  t.equal(app.realtime.connections, 0, 'both closes reached the hub')
  t.same(sockets.map((socket) => socket.listenerCount('message') + socket.listenerCount('pong')), [0, 0], 'message and pong listeners removed')
  // What stays is ws's own clientTracking listener: the app's registration keeps ws's client Set.
  t.same(sockets.map((socket) => socket.listenerCount('close')), [1, 1], 'ours is gone from close too')
})

t.test('injectWS works without a port; the ip reads as unknown', async (t) => {
  const logs = new LogCapture()
  const app = Fastify({ loggerInstance: testLogger(logs) })
  await app.register(realtime, { tickIntervalMs: 0 })
  t.teardown(() => app.close())
  await app.ready()
  const client = await app.injectWS('/ws')
  const connected = await logs.waitFor('client connected')
  t.equal(connected.ip, 'unknown')
  client.send('hello')
  const message = await logs.waitFor('client message')
  t.equal(message.bytes, 5)
  client.terminate()
})

t.test('errors in hooks stay on their socket', async (t) => {
  const logs = new LogCapture()
  const app = Fastify({ loggerInstance: testLogger(logs) })
  await app.register(realtime, {
    tickIntervalMs: 0,
    onMessage: (_connection, text) => { if (text === 'explode') throw new Error('hook failure') },
    onConnection: (connection) => { if (connection.visitor === null && app.realtime.connections > 1) throw new Error('connect hook failure') }
  })
  t.teardown(() => app.close())
  const { ws } = await listen(app)
  const first = await connect(`${ws}/ws`)
  const second = await connect(`${ws}/ws`)
  await second.waitFor('welcome')
  await logs.waitFor('onConnection hook threw')
  first.socket.send('explode')
  const [error] = await first.waitFor('error')
  t.equal(error?.code, 'internal_error')
  first.socket.send('{"type":"sub","channel":"x","id":9}')
  const errors = await first.waitFor('error', 2)
  t.match(errors[1], { code: 'unknown_channel', id: 9 }, 'protocol requests answer with their id (no channel "x" is declared)')
  first.socket.send(Buffer.from([1, 2, 3]))
  const binary = await first.waitFor('error', 3)
  t.equal(binary[2]?.code, 'binary_unsupported')
  first.socket.send('{not json')
  const invalid = await first.waitFor('error', 4)
  t.equal(invalid[3]?.code, 'invalid_json')
  t.equal(first.socket.readyState, first.socket.OPEN, 'the connection is still usable')
  t.equal(app.realtime.connections, 2, 'nobody else was affected')
  await first.close()
  await second.close()
})
