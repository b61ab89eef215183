/**
 * Lean connections: once a socket is in service, nothing holds its upgrade request (Fastify
 * request and reply, raw request and response, session), a closed connection is collectable,
 * and the connect/disconnect log lines keep their fields without a child logger per socket.
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import Fastify from 'fastify'
import t from 'tap'
import realtime, { type ConnectionInfo } from '../../src/index.js'
import demoApp from '../../src/app/app.js'
import { LogCapture, listen, testConfig, testServerOptions } from '../helpers/app.js'
import { connect, sleep } from '../helpers/ws-client.js'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

async function collected (refs: Array<WeakRef<object>>): Promise<boolean> {
  // A few rounds: some objects are only released after pending callbacks have run.
  for (let round = 0; round < 10; round++) {
    await sleep(20)
    gc()
    if (refs.every((ref) => ref.deref() === undefined)) return true
  }
  return false
}

t.test('an open socket does not retain its upgrade request, reply or raw request/response', async (t) => {
  const app = Fastify({ logger: false })
  const upgrade: Array<WeakRef<object>> = []
  app.addHook('onRequest', async (request, reply) => {
    upgrade.push(new WeakRef(request), new WeakRef(reply), new WeakRef(request.raw), new WeakRef(reply.raw))
  })
  const connections: ConnectionInfo[] = []
  await app.register(realtime, { tickIntervalMs: 50, onConnection: (connection) => { connections.push(connection) } })
  t.teardown(() => app.close())
  const { ws } = await listen(app)
  const client = await connect(`${ws}/ws`)
  await client.waitFor('tick', 2)
  t.equal(upgrade.length, 4)
  t.ok(await collected(upgrade), 'request, reply, IncomingMessage and ServerResponse are garbage while the socket is open')
  // Still fully working afterwards.
  const before = client.ofType('tick').length
  await client.waitFor('tick', before + 2)
  t.equal(app.realtime.broadcast('still here', { local: true }), 1)
  await client.waitFor('broadcast', 1)
  t.equal(connections[0]?.isOpen, true)
  await client.close()
})

t.test('a closed connection is collectable', async (t) => {
  const app = Fastify({ logger: false })
  const refs: Array<WeakRef<object>> = []
  await app.register(realtime, { tickIntervalMs: 50, onConnection: (connection) => { refs.push(new WeakRef(connection)) } })
  t.teardown(() => app.close())
  const { ws } = await listen(app)
  for (let i = 0; i < 5; i++) {
    const client = await connect(`${ws}/ws`)
    await client.waitFor('tick', 1)
    await client.close()
  }
  while (app.realtime.connections > 0) await sleep(5)
  t.equal(refs.length, 5)
  t.ok(await collected(refs), 'no hub, ticker or listener keeps a closed connection')
})

t.test('the demo app with sessions: the session is not retained; log lines keep connId, ip and reqId', async (t) => {
  const config = testConfig({ TICK_INTERVAL_MS: '50' })
  const logs = new LogCapture()
  const app = Fastify(testServerOptions(config, logs))
  const sessions: Array<WeakRef<object>> = []
  // Root hooks run on every route of the app; by preHandler the session plugin has loaded the session.
  app.addHook('preHandler', async (request) => {
    if (request.ws) sessions.push(new WeakRef(request.session))
  })
  await app.register(demoApp, { config })
  t.teardown(() => app.close())
  const { ws, http } = await listen(app)
  const page = await fetch(`${http}/`)
  const cookie = page.headers.get('set-cookie')?.split(';')[0] ?? ''
  t.match(cookie, /^rt\.vid=/, 'the page\'s visitor cookie')
  const client = await connect(`${ws}/ws`, { headers: { cookie } })
  const [welcome] = await client.waitFor('welcome')
  t.type(welcome?.visitor, 'string', 'the session identified the visitor')
  const connected = await logs.waitFor('client connected', (line) => line.connId === welcome?.connId)
  t.equal(connected.ip, '127.0.0.1')
  t.type(connected.reqId, 'string', 'the upgrade request id is on the line')
  t.equal(connected.visitor, welcome?.visitor)
  t.equal(sessions.length, 1, 'the upgrade loaded a session')
  t.ok(await collected(sessions), 'the session object is not retained by the open socket')
  await client.waitFor('tick', 1)
  await client.close()
  const disconnected = await logs.waitFor('client disconnected', (line) => line.connId === welcome?.connId)
  t.equal(disconnected.ip, '127.0.0.1')
  t.equal(disconnected.reqId, connected.reqId)
  t.equal(disconnected.code, 1000)
})
