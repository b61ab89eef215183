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
  // A real IPv6 connection to the same listener, from ::1, with an X-Forwarded-For it may not use.
  const v6 = await connect(`ws://[::1]:${address.port}/ws`, { headers: { 'x-forwarded-for': '6.6.6.6' } })
  const [welcome6] = await v6.waitFor('welcome')
  const connected6 = await logs.waitFor('client connected', (line) => line.connId === welcome6?.connId)
  t.equal(connected6.ip, '::1', 'an IPv6 peer is logged by its IPv6 address')
  await v6.close()
  const disconnected6 = await logs.waitFor('client disconnected', (line) => line.connId === welcome6?.connId)
  t.equal(disconnected6.ip, '::1', 'on disconnect too')
})

t.test('behind a trusted IPv6 proxy, the forwarded client address is logged', async (t) => {
  const { app, logs } = await buildApp(t, { TRUST_PROXY: '::1' })
  await app.listen({ port: 0, host: '::1' })
  const address = app.server.address()
  if (address === null || typeof address === 'string') throw new Error('no address')
  t.equal(address.family, 'IPv6', 'listening on IPv6 only')
  const client = await connect(`ws://[::1]:${address.port}/ws`, { headers: { 'x-forwarded-for': '6.6.6.6, 2001:db8::7' } })
  const [welcome] = await client.waitFor('welcome')
  const connected = await logs.waitFor('client connected', (line) => line.connId === welcome?.connId)
  t.equal(connected.ip, '2001:db8::7', 'the address the ::1 proxy saw, not the one the client wrote')
  await client.close()
})
