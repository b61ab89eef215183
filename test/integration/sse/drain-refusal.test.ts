/**
 * A new event stream while the server closes (a real `app.close()`, held open by a client that
 * never answers its close) is refused the documented way, not with Fastify's plain 503: 503
 * `FRT_DRAINING` with `Retry-After: 5` to a plain HTTP client, and to a client that accepts an
 * event stream (a browser's `EventSource`, here the `eventsource` package) a stream holding a
 * jittered `retry:` and a `close` event 1013 `FRT_DRAINING; retry=<ms>`, after which the
 * EventSource reconnects by itself instead of giving up for good.
 */
import { EventSource } from 'eventsource'
import t from 'tap'
import { bareApp, rawUpgrade } from '../../helpers/realtime-app.js'
import { SseClient } from '../../helpers/sse-client.js'

t.test('while the server closes, a new stream is refused as FRT_DRAINING in the form its client retries', async (t) => {
  const { app, port, logs, metrics } = await bareApp(t, { closeGraceMs: 30_000 })
  // A socket that never reads keeps the drain (and so the closing server) waiting for it.
  const stalled = await rawUpgrade(port)
  stalled.socket.pause()
  const closed = app.close()
  await logs.waitFor('draining connections')
  const base = `http://127.0.0.1:${port}`

  const stream = await SseClient.open(`${base}/sse?channels=chat`)
  await stream.ended
  t.equal(stream.status, 200, 'an EventSource-style request gets a stream it reads, not an error status')
  t.match(stream.headers['content-type'], /^text\/event-stream/)
  const close = JSON.parse(stream.events.find((e) => e.event === 'close')?.data ?? '{}') as { code?: number, reason?: string }
  t.match(close, { code: 1013, reason: /^FRT_DRAINING; retry=\d+$/ }, 'a close event 1013 with the code and the retry hint')
  const hint = Number(/retry=(\d+)/.exec(close.reason ?? '')?.[1])
  t.equal(stream.retryMs, hint, 'the retry: field says the same delay')
  t.ok(hint >= 2500 && hint <= 7500, `around the Retry-After of 5 s, jittered (${hint} ms)`)

  const plain = await fetch(`${base}/sse`)
  t.equal(plain.status, 503, 'a plain HTTP client gets the 503')
  t.equal(plain.headers.get('retry-after'), '5')
  t.same(await plain.json(), { statusCode: 503, code: 'FRT_DRAINING', error: 'Service Unavailable', message: 'WebSocket upgrade refused: the server is shutting down, retry on another node or later' }, 'with the coded body of every refusal')
  const post = await fetch(`${base}/sse`, { method: 'POST', headers: { 'content-type': 'application/json', 'realtime-stream': 'a.b.c' }, body: '{"type":"sub","channel":"chat"}' })
  t.equal(post.status, 503, 'a POST too')
  t.match(await post.json(), { code: 'FRT_DRAINING' })
  const other = await fetch(`${base}/elsewhere`)
  t.equal(other.status, 503, 'other routes still get Fastify\'s own answer while it closes')
  t.notMatch(await other.text(), /FRT_/)

  // A real EventSource: it reads the refusal and goes on reconnecting (CONNECTING), not CLOSED.
  const events = new EventSource(`${base}/sse`)
  t.teardown(() => { events.close() })
  const closeEvent = new Promise<string>((resolve) => { events.addEventListener('close', (event) => { resolve(event.data) }) })
  const afterError = new Promise<number>((resolve) => { events.onerror = () => { resolve(events.readyState) } })
  t.match(JSON.parse(await closeEvent), { code: 1013, reason: /^FRT_DRAINING; retry=/ }, 'the EventSource got the close event')
  t.equal(await afterError, events.CONNECTING, 'and it reconnects by itself (readyState CONNECTING), instead of giving up (CLOSED)')
  events.close()

  t.ok(metrics.rejections.filter((reason) => reason === 'draining').length >= 4, 'each refusal counted as draining')
  t.ok(logs.withMessage('upgrade rejected').filter((line) => line.reason === 'draining').length >= 4, 'and logged')
  stalled.socket.destroy()
  await closed
})
