import t from 'tap'
import { buildApp, listen } from '../helpers/app.js'
import { connect } from '../helpers/ws-client.js'

t.test('without TRUST_PROXY the socket address is logged and X-Forwarded-For is ignored', async (t) => {
  const { app, logs } = await buildApp(t)
  const { ws } = await listen(app)
  const client = await connect(`${ws}/ws`, { headers: { 'x-forwarded-for': '6.6.6.6' } })
  const [welcome] = await client.waitFor('welcome')
  const connected = await logs.waitFor('client connected', (line) => line.connId === welcome?.connId)
  t.equal(connected.ip, '127.0.0.1')
  t.type(connected.reqId, 'string', 'carries the upgrade request id')
  await client.close()
  const disconnected = await logs.waitFor('client disconnected', (line) => line.connId === welcome?.connId)
  t.equal(disconnected.ip, '127.0.0.1')
  t.equal(disconnected.code, 1000)
  t.type(disconnected.durationMs, 'number')
})

t.test('behind a trusted proxy the forwarded client address is logged', async (t) => {
  const { app, logs } = await buildApp(t, { TRUST_PROXY: '127.0.0.1' })
  const { ws } = await listen(app)
  const client = await connect(`${ws}/ws`, { headers: { 'x-forwarded-for': '6.6.6.6, 203.0.113.7' } })
  const [welcome] = await client.waitFor('welcome')
  const connected = await logs.waitFor('client connected', (line) => line.connId === welcome?.connId)
  t.equal(connected.ip, '203.0.113.7', 'the address the trusted proxy saw, not the one the client wrote')
  await client.close()
})

t.test('a trusted proxy list that does not match the peer is ignored', async (t) => {
  const { app, logs } = await buildApp(t, { TRUST_PROXY: '10.0.0.0/8' })
  const { ws } = await listen(app)
  const client = await connect(`${ws}/ws`, { headers: { 'x-forwarded-for': '203.0.113.7' } })
  const [welcome] = await client.waitFor('welcome')
  const connected = await logs.waitFor('client connected', (line) => line.connId === welcome?.connId)
  t.equal(connected.ip, '127.0.0.1')
  await client.close()
})

t.test('IPv6 loopback and IPv4-mapped peers are logged normalised', async (t) => {
  const { app, logs } = await buildApp(t)
  await app.listen({ port: 0, host: '::' })
  const address = app.server.address()
  if (address === null || typeof address === 'string') throw new Error('no address')
  const v4 = await connect(`ws://127.0.0.1:${address.port}/ws`)
  const [welcome] = await v4.waitFor('welcome')
  const connected = await logs.waitFor('client connected', (line) => line.connId === welcome?.connId)
  t.equal(connected.ip, '127.0.0.1', 'IPv4 over a dual-stack socket is not ::ffff:127.0.0.1')
  await v4.close()
})
