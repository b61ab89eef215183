/**
 * An event stream goes through the same gate as a WebSocket and lives by the same rules: origin,
 * session, per-IP caps (answered to an EventSource so that it retries by itself), heartbeats that
 * keep proxies from timing it out, the send budget for a client that stops reading, and a drain
 * that tells the browser when to come back.
 */
import t from 'tap'
import { bareApp } from '../../helpers/realtime-app.js'
import { SseClient } from '../../helpers/sse-client.js'
import { epochSec, hsToken, TEST_SECRET } from '../../helpers/tokens.js'
import { sleep } from '../../helpers/ws-client.js'

t.test('the gate: origin 403, session 401, to any client', async (t) => {
  const { port } = await bareApp(t, { requireSession: true, identify: (request) => typeof request.headers['x-visitor'] === 'string' ? { id: request.headers['x-visitor'] } : null })
  const foreign = await fetch(`http://127.0.0.1:${port}/sse`, { headers: { origin: 'http://evil.example', 'x-visitor': 'ann' } })
  t.equal(foreign.status, 403)
  t.match(await foreign.json(), { code: 'FRT_ORIGIN_FORBIDDEN' })
  const anonymous = await fetch(`http://127.0.0.1:${port}/sse`, { headers: { accept: 'text/event-stream' } })
  t.equal(anonymous.status, 401, 'an EventSource gets the 401 as it is: it must not retry without a session')
  t.match(await anonymous.json(), { code: 'FRT_SESSION_REQUIRED' })
  const same = await SseClient.open(`http://127.0.0.1:${port}/sse`, { headers: { origin: `http://127.0.0.1:${port}`, 'x-visitor': 'ann' } })
  t.teardown(() => { same.cut() })
  t.equal(same.status, 200)
  t.match((await same.waitFor('welcome'))[0], { visitor: 'ann' }, 'identified by the same identify as a WebSocket')
})

t.test('a refusal to retry (per-IP cap) reaches an EventSource as a stream that says when to come back', async (t) => {
  const { port, metrics, app } = await bareApp(t, { maxConnectionsPerIp: 1 })
  const first = await SseClient.open(`http://127.0.0.1:${port}/sse`)
  t.teardown(() => { first.cut() })
  await first.waitFor('welcome')
  const second = await SseClient.open(`http://127.0.0.1:${port}/sse`)
  t.equal(second.status, 200, 'an EventSource would give up for good on a 429')
  await second.ended
  const close = second.events.find((e) => e.event === 'close')
  t.match(JSON.parse(close?.data ?? '{}'), { code: 1013, reason: /^FRT_TOO_MANY_CONNECTIONS_PER_IP; retry=\d+$/ })
  t.ok(second.retryMs !== null && second.retryMs >= 2500 && second.retryMs <= 7500, `retry: jittered around Retry-After 5 s (${second.retryMs ?? 'none'} ms)`)
  const plain = await fetch(`http://127.0.0.1:${port}/sse`)
  t.equal(plain.status, 429, 'a client that is not an EventSource gets the status')
  t.equal(plain.headers.get('retry-after'), '5')
  t.same(metrics.rejections, ['per_ip_limit', 'per_ip_limit'])
  first.cut()
  await first.ended
  while (app.realtime.connections > 0) await sleep(5)
  t.match(app.realtime.resources(), { slots: 0, handshakesInFlight: 0, streams: 0 }, 'every slot is given back')
})

t.test('a stream that asks for nonsense is refused with 400 and holds no slot', async (t) => {
  const { port, app } = await bareApp(t, { channels: [{ name: 'feed' }] })
  for (const query of ['channels=bad%20name', 'channels=feed,feed', 'channels=feed|x', 'rewind=-1', 'channels=a&channels=b']) {
    const response = await fetch(`http://127.0.0.1:${port}/sse?${query}`)
    t.equal(response.status, 400, query)
    t.match(await response.json(), { code: 'FRT_INVALID_CHANNEL_LIST' })
  }
  const badId = await fetch(`http://127.0.0.1:${port}/sse`, { headers: { 'last-event-id': '~nope~' } })
  t.equal(badId.status, 400)
  t.match(app.realtime.resources(), { slots: 0, handshakesInFlight: 0, connections: 0 })
})

t.test('heartbeats are comments; a client that stops reading is closed by the send budget', async (t) => {
  const { port, app, logs } = await bareApp(t, { heartbeatIntervalMs: 50, heartbeatTimeoutMs: 5000, maxBufferedBytes: 64 * 1024, channels: [{ name: 'feed' }] })
  const stream = await SseClient.open(`http://127.0.0.1:${port}/sse?channels=feed`)
  t.teardown(() => { stream.cut() })
  await stream.waitFor('ack')
  await sleep(300)
  t.ok(stream.comments >= 3, `heartbeat comments (${stream.comments}) keep proxies from timing the stream out`)
  t.equal(app.realtime.connections, 1, 'an idle stream that reads is never cut by the heartbeat')
  stream.pause()
  // One large publication fills the kernel buffers and leaves megabytes in the server's; the next is past the budget.
  await app.realtime.publish('feed', 'x'.repeat(16 * 1024 * 1024))
  await app.realtime.publish('feed', 'small')
  await logs.waitFor('slow consumer: closing')
  stream.resume()
  await stream.ended
  const close = stream.events.find((e) => e.event === 'close')
  t.same(JSON.parse(close?.data ?? '{}'), { code: 4008, reason: 'slow consumer' }, 'it got what fitted, then the close')
  t.equal(stream.ofType('pub').length, 1, 'not the publication past the budget')
})

t.test('drain: the stream ends with a close event and a jittered retry', async (t) => {
  const { port, app } = await bareApp(t)
  const stream = await SseClient.open(`http://127.0.0.1:${port}/sse`)
  await stream.waitFor('welcome')
  const drained = app.realtime.drain()
  await stream.ended
  await drained
  const close = stream.events.find((e) => e.event === 'close')
  const data = JSON.parse(close?.data ?? '{}') as { code: number, reason: string }
  t.equal(data.code, 1001)
  const hint = Number(/retry=(\d+)/.exec(data.reason)?.[1])
  t.ok(hint >= 500 && hint <= 5000, `reason ${data.reason}`)
  t.equal(stream.retryMs, hint, 'the retry: field tells the browser the same delay')
  const refused = await SseClient.open(`http://127.0.0.1:${port}/sse`)
  await refused.ended
  t.match(JSON.parse(refused.events.find((e) => e.event === 'close')?.data ?? '{}'), { code: 1013, reason: /^FRT_DRAINING; / }, 'a draining node sends a reconnecting EventSource elsewhere, later')
})

t.test('a bearer token identifies a stream as it does a WebSocket, and its deadline applies: refresh, then 4401', async (t) => {
  const { port } = await bareApp(t, { jwtSecret: TEST_SECRET, tokenRefreshLeadMs: 1000 })
  const refused = await fetch(`http://127.0.0.1:${port}/sse`, { headers: { authorization: 'Bearer not.a.token' } })
  t.equal(refused.status, 401, 'a refused token refuses the stream, as it refuses an upgrade')
  const token = await hsToken({ sub: 'tess', exp: epochSec(2) })
  const stream = await SseClient.open(`http://127.0.0.1:${port}/sse`, { headers: { authorization: `Bearer ${token}` } })
  t.teardown(() => { stream.cut() })
  t.match((await stream.waitFor('welcome'))[0], { visitor: 'tess' })
  await stream.waitFor('refresh', 1, 3000)
  t.pass('a refresh event comes before the token expires')
  await stream.ended
  t.match(JSON.parse(stream.events.find((e) => e.event === 'close')?.data ?? '{}'), { code: 4401 }, 'and the stream is closed at its expiry')
})
