/**
 * The upgrade gate over real sockets: every refusal is an HTTP status before the 101, logged with
 * its reason and counted.
 */
import type { Socket } from 'node:net'
import t from 'tap'
import WebSocket from 'ws'
import { buildApp, listen } from '../../helpers/app.js'
import { bareApp, rawUpgrade } from '../../helpers/realtime-app.js'
import { connect, sleep, type RecordingClient } from '../../helpers/ws-client.js'

/** Status of a refused upgrade, via ws's `unexpected-response`. */
async function refusedStatus (url: string, options: WebSocket.ClientOptions = {}): Promise<{ status: number, retryAfter: string | undefined, body: string }> {
  const socket = new WebSocket(url, options)
  return await new Promise((resolve, reject) => {
    socket.once('open', () => { socket.terminate(); reject(new Error('upgrade was accepted')) })
    socket.once('error', reject)
    socket.once('unexpected-response', (_request, response) => {
      let body = ''
      response.on('data', (chunk: Buffer) => { body += chunk.toString() })
      response.on('end', () => {
        socket.terminate()
        resolve({ status: response.statusCode ?? 0, retryAfter: response.headers['retry-after'], body })
      })
    })
  })
}

async function closeAll (clients: RecordingClient[]): Promise<void> {
  await Promise.all(clients.map(async (client) => await client.close()))
}

t.test('origin: cross-origin 403, same origin and no Origin pass', async (t) => {
  const { ws, port, logs, metrics } = await bareApp(t)
  const refused = await refusedStatus(`${ws}/ws`, { origin: 'https://evil.example' })
  t.equal(refused.status, 403)
  t.match(JSON.parse(refused.body), { code: 'FRT_ORIGIN_FORBIDDEN' })
  const line = await logs.waitFor('upgrade rejected')
  t.match(line, { reason: 'origin', ip: '127.0.0.1', origin: 'https://evil.example', host: `127.0.0.1:${port}` }, 'the line has the Host the client asked for beside its Origin')
  t.same(metrics.rejections, ['origin'])
  // A look-alike host on another port is another origin.
  t.equal((await refusedStatus(`${ws}/ws`, { origin: `http://127.0.0.1:${port + 1}` })).status, 403)
  t.equal((await refusedStatus(`${ws}/ws`, { origin: 'null' })).status, 403, 'an opaque origin is refused')
  const same = await connect(`${ws}/ws`, { origin: `http://127.0.0.1:${port}` })
  const none = await connect(`${ws}/ws`)
  await closeAll([same, none])
})

t.test('origin: ALLOWED_ORIGINS list, requireOrigin', async (t) => {
  const { ws, port } = await bareApp(t, { allowedOrigins: ['https://app.example.com'], requireOrigin: true })
  const allowed = await connect(`${ws}/ws`, { origin: 'https://app.example.com' })
  t.equal((await refusedStatus(`${ws}/ws`, { origin: `http://127.0.0.1:${port}` })).status, 403, 'with a list, the Host is not implied')
  t.equal((await refusedStatus(`${ws}/ws`)).status, 403, 'requireOrigin refuses a missing Origin')
  await allowed.close()
})

t.test('the demo\'s / route has the same gate, and plain GET / is not affected', async (t) => {
  const { app, logs } = await buildApp(t, { ALLOWED_ORIGINS: 'https://app.example.com', MAX_CONNECTIONS_PER_IP: '2' })
  const { ws, http } = await listen(app)
  t.equal((await refusedStatus(ws, { origin: 'https://evil.example' })).status, 403)
  t.match(await logs.waitFor('upgrade rejected'), { reason: 'origin' })
  const a = await connect(ws)
  const b = await connect(`${ws}/ws`)
  t.equal((await refusedStatus(ws)).status, 429, 'slots are shared by / and /ws')
  const page = await fetch(`${http}/`)
  t.equal(page.status, 200, 'the page itself is served')
  await closeAll([a, b])
})

t.test('the 65th connection from one IP gets 429; closing one frees a slot', async (t) => {
  const { ws, metrics, app } = await bareApp(t, { handshakeBurst: 100, handshakeRatePerSec: 100 })
  const clients: RecordingClient[] = []
  for (let i = 0; i < 64; i++) clients.push(await connect(`${ws}/ws`))
  const refused = await refusedStatus(`${ws}/ws`)
  t.equal(refused.status, 429)
  t.equal(refused.retryAfter, '5')
  t.same(metrics.rejections, ['per_ip_limit'])
  await clients.pop()?.close()
  // The slot is free once the server has let the closed socket go (not after a guessed 50 ms).
  for (const started = Date.now(); app.realtime.resources().slots > 63 && Date.now() - started < 10_000;) await sleep(5)
  clients.push(await connect(`${ws}/ws`))
  t.equal(app.realtime.resources().slots, 64)
  await closeAll(clients)
})

t.test('a spoofed X-Forwarded-For without a trusted proxy does not dodge the per-IP cap', async (t) => {
  const { ws, logs } = await bareApp(t, { maxConnectionsPerIp: 3, handshakeBurst: 100 })
  const clients: RecordingClient[] = []
  for (let i = 0; i < 3; i++) clients.push(await connect(`${ws}/ws`, { headers: { 'x-forwarded-for': `10.0.0.${i}` } }))
  const refused = await refusedStatus(`${ws}/ws`, { headers: { 'x-forwarded-for': '10.9.9.9' } })
  t.equal(refused.status, 429)
  t.match(await logs.waitFor('upgrade rejected'), { ip: '127.0.0.1', reason: 'per_ip_limit' })
  await closeAll(clients)
})

t.test('behind a trusted proxy, limits apply to the forwarded client IP', async (t) => {
  const { ws } = await bareApp(t, { maxConnectionsPerIp: 1, handshakeBurst: 100 }, { trustProxy: ['127.0.0.1'] })
  const a = await connect(`${ws}/ws`, { headers: { 'x-forwarded-for': '203.0.113.1' } })
  const b = await connect(`${ws}/ws`, { headers: { 'x-forwarded-for': '203.0.113.2' } })
  t.equal((await refusedStatus(`${ws}/ws`, { headers: { 'x-forwarded-for': '203.0.113.1' } })).status, 429)
  await closeAll([a, b])
})

t.test('global MAX_CONNECTIONS gets 503', async (t) => {
  const { ws, metrics } = await bareApp(t, { maxConnections: 2 })
  const clients = [await connect(`${ws}/ws`), await connect(`${ws}/ws`)]
  const refused = await refusedStatus(`${ws}/ws`)
  t.equal(refused.status, 503)
  t.match(JSON.parse(refused.body), { code: 'FRT_SERVER_FULL' })
  t.same(metrics.rejections, ['global_limit'])
  await closeAll(clients)
})

t.test('a handshake burst past the bucket gets 429, and the bucket refills', async (t) => {
  const { port, metrics } = await bareApp(t, { handshakeRatePerSec: 20, handshakeBurst: 40 })
  const attempts = await Promise.all(Array.from({ length: 60 }, async () => await rawUpgrade(port)))
  const statuses = attempts.map((attempt) => attempt.status)
  for (const attempt of attempts) attempt.socket.destroy()
  const accepted = statuses.filter((status) => status === 101).length
  const limited = statuses.filter((status) => status === 429).length
  t.ok(accepted >= 40 && accepted <= 45, `about the burst was accepted (${accepted})`)
  t.equal(accepted + limited, 60, 'the rest got 429')
  t.equal(metrics.rejections.filter((reason) => reason === 'rate').length, limited)
  await sleep(300) // 20/s: a few tokens back
  const again = await rawUpgrade(port)
  t.equal(again.status, 101, 'allowed again after a pause')
  again.socket.destroy()
})

t.test('requireSession: a session-less upgrade gets 401; a visitor with a session gets in', async (t) => {
  const { app, logs } = await buildApp(t, { REQUIRE_SESSION: 'true' })
  const { ws, http } = await listen(app)
  const refused = await refusedStatus(`${ws}/ws`)
  t.equal(refused.status, 401)
  t.match(JSON.parse(refused.body), { code: 'FRT_SESSION_REQUIRED' })
  t.match(await logs.waitFor('upgrade rejected'), { reason: 'auth' })
  t.equal((await refusedStatus(`${ws}/ws`, { headers: { cookie: 'rt.sid=forged.value' } })).status, 401, 'a forged cookie is no session')
  const page = await fetch(`${http}/`)
  const cookie = page.headers.get('set-cookie')?.split(';')[0] ?? ''
  t.match(cookie, /^rt\.vid=/, 'the page\'s visitor cookie')
  const client = await connect(`${ws}/ws`, { headers: { cookie } })
  const [welcome] = await client.waitFor('welcome')
  t.type(welcome?.visitor, 'string')
  await client.close()
})

t.test('while draining, upgrades get 503', async (t) => {
  const { ws, app, metrics } = await bareApp(t, { closeGraceMs: 2000 })
  const client = await connect(`${ws}/ws`)
  client.socket.on('close', () => {}) // the drain closes it with 1001
  const drained = app.realtime.drain()
  const refused = await refusedStatus(`${ws}/ws`)
  t.equal(refused.status, 503)
  t.match(JSON.parse(refused.body), { code: 'FRT_DRAINING' })
  t.ok(metrics.rejections.includes('draining'))
  await drained
  t.equal((await client.closed).code, 1001)
})

t.test('during fastify.close(), a late upgrade gets 503 and does not hold close() open', async (t) => {
  const { port, ws, app, metrics, logs } = await bareApp(t, { closeGraceMs: 3000 })
  const client = await connect(`${ws}/ws`)
  client.socket.on('close', () => {})
  client.socket.pause() // hold the drain open until the late upgrade has been answered
  const closing = app.close()
  await logs.waitFor('draining connections')
  const late = await rawUpgrade(port)
  t.equal(late.status, 503)
  t.match(late.rest.toString(), /FRT_DRAINING/)
  t.ok(metrics.rejections.includes('draining'))
  t.match(await logs.waitFor('upgrade rejected', (line) => line.reason === 'draining'), { ip: '127.0.0.1', host: `127.0.0.1:${port}` }, 'the late upgrade\'s line has its Host too')
  // The client never read anything here: keep the socket open on our side, as a stuck peer would.
  client.socket.resume()
  const started = Date.now()
  await closing
  t.ok(Date.now() - started < 2500, 'close() finishes without waiting on the refused socket')
  t.equal((await client.closed).code, 1001)
  late.socket.destroy()
})

t.test('at MAX_CONNECTIONS the node reports not ready (capacity), and ready again below it', async (t) => {
  const { ws, app } = await bareApp(t, { maxConnections: 2 })
  const a = await connect(`${ws}/ws`)
  t.same(app.realtime.readiness().checks.capacity, { ok: true })
  const b = await connect(`${ws}/ws`)
  const full = app.realtime.readiness()
  t.equal(full.ready, false)
  t.same(full.checks.capacity, { ok: false, detail: 'at the connection limit (2)' })
  await b.close()
  const started = Date.now()
  while (app.realtime.resources().slots > 1 && Date.now() - started < 10_000) await sleep(10)
  t.same(app.realtime.readiness().checks.capacity, { ok: true })
  await a.close()
})

t.test('a route that serves the plugin\'s handler in either form gets the gate: { wsHandler } and { websocket: true }', async (t) => {
  const { app, ws, metrics } = await bareApp(t, {}, {}, (app) => {
    app.get('/as-handler', { websocket: true }, app.realtime.wsHandler)
    app.route({ method: 'GET', url: '/as-option', handler: async () => 'page', wsHandler: app.realtime.wsHandler })
  })
  for (const path of ['/as-handler', '/as-option']) {
    const refused = await refusedStatus(`${ws}${path}`, { origin: 'https://evil.example' })
    t.equal(refused.status, 403, `${path}: a cross-origin upgrade is refused`)
    t.match(JSON.parse(refused.body), { code: 'FRT_ORIGIN_FORBIDDEN' })
  }
  t.same(metrics.rejections, ['origin', 'origin'])
  const client = await connect(`${ws}/as-handler`)
  await client.waitFor('welcome')
  t.equal(app.realtime.resources().slots, 1, 'and a connection on it holds a gate slot')
  await client.close()
})

t.test('a refused upgrade\'s socket is closed once the answer is written, whichever hook refused it', async (t) => {
  // An app hook that runs before @fastify/websocket's own (registered before the plugin).
  const { port } = await bareApp(t, {}, {}, (app) => {
    app.addHook('onRequest', async (request, reply) => {
      if (request.headers['x-deny'] !== undefined) return await reply.code(401).send({ denied: true })
    })
  }, (app) => {
    app.addHook('onRequest', async (request, reply) => {
      if (request.headers['x-deny-first'] !== undefined) return await reply.code(401).send({ denied: 'first' })
    })
  })
  const closedWithin = async (socket: Socket, ms: number): Promise<boolean> => socket.destroyed || await new Promise((resolve) => {
    const timer = setTimeout(() => { resolve(false) }, ms)
    socket.once('close', () => { clearTimeout(timer); resolve(true) })
  })
  for (const [what, headers, status] of [
    ['an app hook registered before the plugin', { 'x-deny-first': '1' }, 401],
    ['an app hook registered after it', { 'x-deny': '1' }, 401],
    ['the gate (a foreign origin)', { origin: 'https://evil.example' }, 403],
    ['an unknown path', {}, 404]
  ] as const) {
    const refused = await rawUpgrade(port, what === 'an unknown path' ? '/nowhere' : '/ws', headers)
    t.teardown(() => { refused.socket.destroy() })
    t.equal(refused.status, status, `${what}: ${status}`)
    t.ok(await closedWithin(refused.socket, 2000), `${what}: the server closed the socket`)
  }
  const accepted = await rawUpgrade(port, '/ws')
  t.teardown(() => { accepted.socket.destroy() })
  t.equal(accepted.status, 101, 'an upgrade that passes is served')
  t.notOk(await closedWithin(accepted.socket, 300), 'and its socket stays open')
})
