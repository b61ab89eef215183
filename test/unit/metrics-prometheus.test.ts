import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { Registry } from 'prom-client'
import { packageRoot } from '../../src/app/paths.js'
import { InvalidOptionError } from '../../src/errors.js'
import { noopMetrics } from '../../src/metrics/metrics.js'
import { createPrometheusMetrics, PrometheusMetrics } from '../../src/metrics/prometheus.js'
import { Scrape } from '../helpers/prometheus.js'

const parse = async (metrics: PrometheusMetrics): Promise<Scrape> => new Scrape(await metrics.scrape())

t.test('implements every method of the seam', async (t) => {
  const metrics = createPrometheusMetrics({ collectDefaultMetrics: false })
  for (const key of Object.keys(noopMetrics)) t.type((metrics as unknown as Record<string, unknown>)[key], 'function', key)
})

t.test('each event lands in its series, in base units', async (t) => {
  const metrics = new PrometheusMetrics({ collectDefaultMetrics: false })
  metrics.connectionOpened()
  metrics.connectionOpened()
  metrics.connectionClosed(1001)
  metrics.upgradeRejected('per_ip_limit')
  metrics.upgradeRejected('draining')
  metrics.frameIn('sub', 40)
  metrics.frameOut('pub', 100, 25)
  metrics.frameOut('tick', 50, 4)
  metrics.tickCoalesced()
  metrics.heartbeatRtt(3) // ms
  metrics.publishLatency(20) // ms
  metrics.adapterError('publish')
  const s = await parse(metrics)
  t.equal(s.value('realtime_connections'), 1)
  t.equal(s.value('realtime_upgrades_total', { outcome: 'accepted' }), 2)
  t.equal(s.value('realtime_upgrades_total', { outcome: 'rejected', reason: 'per_ip_limit' }), 1)
  t.equal(s.value('realtime_upgrades_total', { outcome: 'rejected', reason: 'draining' }), 1)
  t.equal(s.value('realtime_disconnections_total', { code: '1001' }), 1)
  t.equal(s.value('realtime_messages_received_total', { type: 'sub' }), 1)
  t.equal(s.value('realtime_messages_received_bytes_total', { type: 'sub' }), 40)
  t.equal(s.value('realtime_messages_sent_total', { type: 'pub' }), 25, 'count sockets')
  t.equal(s.value('realtime_messages_sent_bytes_total', { type: 'pub' }), 2500, 'bytes times sockets')
  t.equal(s.value('realtime_ticks_sent_total'), 4, 'tick frames also count as ticks sent')
  t.equal(s.value('realtime_ticks_coalesced_total'), 1)
  t.equal(s.value('realtime_heartbeat_rtt_seconds_count'), 1)
  t.equal(s.value('realtime_heartbeat_rtt_seconds_sum'), 0.003, 'milliseconds become seconds')
  t.equal(s.value('realtime_heartbeat_rtt_seconds_bucket', { le: '0.0025' }), 0)
  t.equal(s.value('realtime_heartbeat_rtt_seconds_bucket', { le: '0.005' }), 1)
  t.equal(s.value('realtime_publish_latency_seconds_sum'), 0.02)
  t.equal(s.value('realtime_adapter_errors_total', { operation: 'publish' }), 1)
  t.ok(s.declares('realtime_heartbeat_rtt_seconds', 'histogram'))
})

t.test('never throws on odd values (the seam must not throw)', async (t) => {
  const metrics = new PrometheusMetrics({ collectDefaultMetrics: false })
  t.doesNotThrow(() => {
    metrics.frameIn('text', Number.NaN)
    metrics.frameIn('text', -1)
    metrics.frameOut('tick', 10, 0)
    metrics.frameOut('tick', 10, Number.NaN)
    metrics.frameOut('tick', Number.POSITIVE_INFINITY, 2)
    metrics.heartbeatRtt(Number.NaN)
    metrics.heartbeatRtt(-5)
    metrics.publishLatency(Number.NaN)
    metrics.publishLatency(-3) // clock skew between machines
  })
  const s = await parse(metrics)
  t.equal(s.value('realtime_messages_received_total', { type: 'text' }), 2, 'frames counted even with a bad size')
  t.equal(s.value('realtime_messages_received_bytes_total', { type: 'text' }), 0, 'bad sizes not added')
  t.equal(s.value('realtime_messages_sent_total', { type: 'tick' }), 2)
  t.equal(s.value('realtime_heartbeat_rtt_seconds_count'), 0)
  t.equal(s.value('realtime_publish_latency_seconds_count'), 1, 'negative latency counted as zero')
  t.equal(s.value('realtime_publish_latency_seconds_bucket', { le: '0.0005' }), 1)
})

t.test('each instance has its own registry unless one is given', async (t) => {
  const a = new PrometheusMetrics({ collectDefaultMetrics: false })
  const b = new PrometheusMetrics({ collectDefaultMetrics: false })
  a.connectionOpened()
  t.equal((await parse(a)).value('realtime_connections'), 1)
  t.equal((await parse(b)).value('realtime_connections'), 0, 'no shared global registry')
  t.not(a.registry, b.registry)

  const registry = new Registry()
  const shared = new PrometheusMetrics({ registry, prefix: 'app_rt_', collectDefaultMetrics: false })
  t.equal(shared.registry, registry)
  t.ok((await registry.metrics()).includes('app_rt_connections 0'), 'custom prefix in the given registry')
  t.throws(() => new PrometheusMetrics({ registry, prefix: 'app_rt_', collectDefaultMetrics: false }), /already been registered/, 'a name clash in one registry is loud')
  t.equal(shared.contentType, registry.contentType)
})

t.test('options are validated with coded errors', async (t) => {
  const bad: Array<[string, Record<string, unknown>]> = [
    ['prefix', { prefix: 'has space' }],
    ['prefix', { prefix: 7 }],
    ['registry', { registry: {} }],
    ['heartbeatRttBucketsSeconds', { heartbeatRttBucketsSeconds: [] }],
    ['heartbeatRttBucketsSeconds', { heartbeatRttBucketsSeconds: [0.1, 0.05] }],
    ['publishLatencyBucketsSeconds', { publishLatencyBucketsSeconds: [0, 1] }],
    ['publishLatencyBucketsSeconds', { publishLatencyBucketsSeconds: 'fast' }]
  ]
  for (const [name, options] of bad) {
    t.throws(() => new PrometheusMetrics({ collectDefaultMetrics: false, ...options }), { code: 'FRT_INVALID_OPTION', message: new RegExp(`"${name}"`) }, `${name}: ${JSON.stringify(options[name])}`)
  }
  t.throws(() => new PrometheusMetrics({ prefix: 'x y' }), InvalidOptionError)
  const custom = new PrometheusMetrics({ collectDefaultMetrics: false, heartbeatRttBucketsSeconds: [0.5, 1] })
  custom.heartbeatRtt(700)
  const s = await parse(custom)
  t.equal(s.value('realtime_heartbeat_rtt_seconds_bucket', { le: '1' }), 1)
  t.equal(s.value('realtime_heartbeat_rtt_seconds_bucket', { le: '0.5' }), 0)
})

t.test('stream gaps and position checks: each outcome a series from the first scrape, checks and channels behind counted', async (t) => {
  const metrics = new PrometheusMetrics({ collectDefaultMetrics: false })
  const before = await parse(metrics)
  for (const outcome of ['recovered', 'trimmed', 'epoch', 'fork']) t.equal(before.value('realtime_stream_gaps_total', { outcome }), 0, `${outcome} at 0 before any gap`)
  metrics.streamGap('recovered')
  metrics.streamGap('recovered')
  metrics.streamGap('fork')
  metrics.positionCheck(1000, 0)
  metrics.positionCheck(1000, 3)
  metrics.positionCheck(1000, Number.NaN)
  const s = await parse(metrics)
  t.equal(s.value('realtime_stream_gaps_total', { outcome: 'recovered' }), 2)
  t.equal(s.value('realtime_stream_gaps_total', { outcome: 'fork' }), 1)
  t.equal(s.value('realtime_stream_gaps_total', { outcome: 'trimmed' }), 0)
  t.equal(s.value('realtime_position_checks_total'), 3)
  t.equal(s.value('realtime_position_check_channels_behind_total'), 3, 'a bad count is not added')
})

t.test('every realtime metric is a row of docs/operations.md\'s metrics table', async (t) => {
  const metrics = new PrometheusMetrics({ collectDefaultMetrics: false })
  const names = (await metrics.registry.getMetricsAsJSON()).map((metric) => metric.name)
  t.ok(names.length > 10, `read ${names.length} metrics from the registry`)
  const doc = readFileSync(join(packageRoot, 'docs', 'operations.md'), 'utf8')
  const table = doc.slice(doc.indexOf('### Every metric'), doc.indexOf('Useful queries'))
  t.same(names.filter((name) => !table.includes(`| \`${name}\` |`)), [], 'no metric missing from the table')
})
