/**
 * GET /metrics on the demo app, scraped over HTTP while real `ws` clients open, receive ticks,
 * send good and bad frames, and close: every counter must move with them.
 */
import t from 'tap'
import Fastify from 'fastify'
import realtime from '../../../src/index.js'
import { PrometheusMetrics } from '../../../src/metrics/prometheus.js'
import { buildApp, listen } from '../../helpers/app.js'
import { scrape, scrapeUntil } from '../../helpers/prometheus.js'
import { refusedUpgrade } from '../../helpers/realtime-app.js'
import { connect, type RecordingClient } from '../../helpers/ws-client.js'

t.test('counters follow sockets as they open, receive ticks, send frames and close', async (t) => {
  const { app } = await buildApp(t, { TICK_INTERVAL_MS: '100' })
  const { http, ws } = await listen(app)
  const metricsUrl = `${http}/metrics`

  const before = await scrape(metricsUrl)
  t.match(before.contentType, /^text\/plain; version=0\.0\.4/, 'Prometheus text format')
  t.equal(before.value('realtime_connections'), 0)
  t.equal(before.value('realtime_upgrades_total', { outcome: 'accepted' }), 0, 'accepted series exists at 0')
  t.equal(before.value('realtime_upgrades_total', { outcome: 'rejected', reason: 'origin' }), 0, 'rejected series exist at 0')
  t.equal(before.value('realtime_ticks_sent_total'), 0)

  const clients: RecordingClient[] = []
  t.teardown(() => { for (const client of clients) client.socket.terminate() })
  for (let i = 0; i < 3; i++) clients.push(await connect(`${ws}/ws`))
  for (const client of clients) await client.waitFor('welcome')

  const opened = await scrape(metricsUrl)
  t.equal(opened.value('realtime_connections'), 3, 'gauge counts the open sockets')
  t.equal(opened.value('realtime_upgrades_total', { outcome: 'accepted' }), 3)
  t.equal(opened.value('realtime_messages_sent_total', { type: 'welcome' }), 3, 'one welcome per socket')
  t.ok((opened.value('realtime_messages_sent_bytes_total', { type: 'welcome' }) ?? 0) > 3 * 20, 'welcome bytes counted')

  for (const client of clients) await client.waitFor('tick', 2)
  const received = clients.reduce((total, client) => total + client.ofType('tick').length, 0)
  const ticked = await scrape(metricsUrl)
  const ticksSent = ticked.value('realtime_ticks_sent_total') ?? 0
  t.ok(ticksSent >= received, `ticks sent (${ticksSent}) cover the ${received} the clients received`)
  t.equal(ticked.value('realtime_messages_sent_total', { type: 'tick' }), ticksSent, 'tick frames and ticks sent agree')
  const tickBytes = ticked.value('realtime_messages_sent_bytes_total', { type: 'tick' }) ?? 0
  t.ok(tickBytes / ticksSent > 50, `about one demo tick frame of bytes per tick (${Math.round(tickBytes / ticksSent)})`)

  const [first, second, third] = clients as [RecordingClient, RecordingClient, RecordingClient]
  first.socket.send('hello') // 5 bytes of plain text, as the seed's client sends
  first.socket.send('{not json')
  first.socket.send(Buffer.from([1, 2, 3]), { binary: true })
  await first.waitFor('error', 2)
  const framed = await scrape(metricsUrl)
  t.equal(framed.value('realtime_messages_received_total', { type: 'text' }), 1)
  t.equal(framed.value('realtime_messages_received_bytes_total', { type: 'text' }), 5)
  t.equal(framed.value('realtime_messages_received_total', { type: 'invalid' }), 1)
  t.equal(framed.value('realtime_messages_received_total', { type: 'binary' }), 1)
  t.equal(framed.value('realtime_messages_received_bytes_total', { type: 'binary' }), 3)
  t.equal(framed.value('realtime_messages_sent_total', { type: 'error' }), 2, 'the two error frames sent back')

  await first.close(4001, 'app says bye')
  await second.close(1000)
  const closed = await scrapeUntil(metricsUrl, (s) => s.value('realtime_connections') === 1)
  t.equal(closed.value('realtime_disconnections_total', { code: '4001' }), 1, 'close code 4001 counted')
  t.equal(closed.value('realtime_disconnections_total', { code: '1000' }), 1, 'close code 1000 counted')
  t.equal(closed.value('realtime_upgrades_total', { outcome: 'accepted' }), 3, 'accepted does not go down')

  third.socket.terminate() // no close frame: the server sees 1006
  const cut = await scrapeUntil(metricsUrl, (s) => s.value('realtime_connections') === 0)
  t.equal(cut.value('realtime_disconnections_total', { code: '1006' }), 1, 'an abnormal close is counted as 1006')
})

t.test('the default process metrics are in the same scrape', async (t) => {
  const { app } = await buildApp(t)
  const { http } = await listen(app)
  const result = await scrape(`${http}/metrics`)
  t.ok(result.declares('nodejs_eventloop_lag_seconds', 'gauge'), 'event loop lag')
  t.ok(result.declares('nodejs_heap_size_used_bytes', 'gauge'), 'heap')
  t.ok(result.declares('nodejs_gc_duration_seconds', 'histogram'), 'GC')
  t.ok(result.declares('process_resident_memory_bytes', 'gauge'), 'RSS')
  t.ok((result.value('nodejs_heap_size_used_bytes') ?? 0) > 1024 * 1024, 'heap has a real value')
})

t.test('broadcasts and upgrades refused by the real gate show in the scrape', async (t) => {
  // A bare app with the plugin, as an outside app embeds it. The refusals come from the plugin's
  // own upgrade gate (same-origin by default): on its /ws route, and on another route served by
  // its wsHandler, which gets the same gate. Nothing in the test reports to the metrics itself.
  const metrics = new PrometheusMetrics({ collectDefaultMetrics: false })
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(realtime, { tickIntervalMs: 0, metrics })
  await app.register(async (other) => {
    other.route({ method: 'GET', url: '/ws', handler: async () => ({ page: 'other' }), wsHandler: app.realtime.wsHandler })
  }, { prefix: '/other' })
  app.get('/metrics', async (_request, reply) => reply.type(metrics.contentType).send(await metrics.scrape()))
  const { http, ws, port } = await listen(app)

  const clients = [await connect(`${ws}/ws`), await connect(`${ws}/ws`)]
  t.teardown(() => { for (const client of clients) client.socket.terminate() })
  for (const client of clients) await client.waitFor('welcome')
  t.equal(app.realtime.broadcast({ hello: 'world' }, { local: true }), 2)
  for (const client of clients) await client.waitFor('broadcast')

  for (const path of ['/ws', '/other/ws']) {
    const refused = await refusedUpgrade(port, path, { Origin: 'https://evil.example' })
    t.equal(refused.status, 403, `a cross-origin upgrade at ${path} is refused with 403`)
    t.match(JSON.parse(refused.body || '{}'), { code: 'FRT_ORIGIN_FORBIDDEN' }, 'by the gate\'s origin check')
  }

  const result = await scrape(`${http}/metrics`)
  t.equal(result.value('realtime_messages_sent_total', { type: 'broadcast' }), 2, 'one broadcast frame per socket')
  t.ok((result.value('realtime_messages_sent_bytes_total', { type: 'broadcast' }) ?? 0) > 2 * 30, 'broadcast bytes')
  t.equal(result.value('realtime_upgrades_total', { outcome: 'rejected', reason: 'origin' }), 2, 'both gate refusals counted by reason')
  t.equal(result.value('realtime_upgrades_total', { outcome: 'accepted' }), 2)
  t.notOk(result.declares('nodejs_heap_size_used_bytes', 'gauge'), 'default metrics can be turned off')
})
