/**
 * METRICS_PORT moves GET /metrics to a listener of its own, off the public port.
 */
import { connect } from 'node:net'
import t from 'tap'
import { InvalidConfigError } from '../../../src/app/config.js'
import { buildApp, listen, testConfig } from '../../helpers/app.js'
import { scrape } from '../../helpers/prometheus.js'
import { connect as connectWs } from '../../helpers/ws-client.js'

t.test('with METRICS_PORT, /metrics is served on that port only', async (t) => {
  // Port 0: the metrics listener takes a free port, which its "Server listening" line names.
  const { app, logs } = await buildApp(t, { METRICS_PORT: '0', METRICS_HOST: '127.0.0.1' })
  const metricsLine = logs.lines.find((line) => line.listener === 'metrics' && typeof line.msg === 'string' && line.msg.startsWith('Server listening at '))
  const metricsBase = metricsLine?.msg?.replace('Server listening at ', '') ?? ''
  t.match(metricsBase, /^http:\/\/127\.0\.0\.1:\d+$/, 'the metrics listener is up once the app is ready')

  const { http, ws } = await listen(app)
  t.not(metricsBase, http, 'a different port from the public one')
  const publicMetrics = await fetch(`${http}/metrics`)
  t.equal(publicMetrics.status, 404, 'not on the public port')

  const client = await connectWs(`${ws}/ws`)
  t.teardown(() => client.socket.terminate())
  await client.waitFor('welcome')
  const result = await scrape(`${metricsBase}/metrics`)
  t.equal(result.value('realtime_connections'), 1, 'the separate listener scrapes the same registry')
  const other = await fetch(`${metricsBase}/health`)
  t.equal(other.status, 404, 'the metrics listener serves nothing else')

  await client.close()
  await app.close()
  const refused = await new Promise<string>((resolve) => {
    // A fresh TCP connection (fetch would reuse its kept-alive one).
    const socket = connect(Number(new URL(metricsBase).port), '127.0.0.1')
    socket.once('connect', () => { socket.destroy(); resolve('connected') })
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message))
  })
  t.equal(refused, 'ECONNREFUSED', 'the metrics listener closes with the app')
})

t.test('METRICS_PORT is validated', async (t) => {
  t.throws(() => testConfig({ PORT: '9100', METRICS_PORT: '9100' }), InvalidConfigError, 'the same port as PORT is refused')
  t.throws(() => testConfig({ METRICS_PORT: 'ninety' }), InvalidConfigError, 'not a number')
  t.throws(() => testConfig({ METRICS_PORT: '70000' }), InvalidConfigError, 'out of range')
  t.equal(testConfig({ METRICS_PORT: '9100' }).metricsPort, 9100)
  t.equal(testConfig({ HOST: '0.0.0.0' }).metricsHost, '0.0.0.0', 'METRICS_HOST defaults to HOST')
  t.equal(testConfig({}).metricsPort, undefined, 'unset: /metrics stays on the main port')
})
