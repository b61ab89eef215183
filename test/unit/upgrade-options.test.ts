import t from 'tap'
import { originAllowed } from '../../src/upgrade/gate.js'
import { DEFAULTS, resolveOptions } from '../../src/options.js'
import { loadConfig } from '../../src/app/config.js'
import { ClientErrorCode, CloseCode } from '../../src/errors.js'

t.test('originAllowed', async (t) => {
  t.ok(originAllowed('http://localhost:8005', 'localhost:8005', []), 'same origin as the Host')
  t.ok(originAllowed('https://app.example.com', 'app.example.com', []), 'https page behind a TLS proxy')
  t.notOk(originAllowed('http://localhost:8006', 'localhost:8005', []), 'another port')
  t.notOk(originAllowed('http://evil.example', 'localhost:8005', []))
  t.notOk(originAllowed('http://localhost:8005.evil.example', 'localhost:8005', []), 'a prefix is not a match')
  t.notOk(originAllowed('null', 'localhost:8005', []))
  t.notOk(originAllowed('http://localhost:8005', undefined, []), 'no Host, no same origin')
  t.ok(originAllowed('https://a.example', 'localhost', ['https://a.example']))
  t.notOk(originAllowed('http://a.example', 'localhost', ['https://a.example']), 'the scheme counts in a list')
  t.ok(originAllowed('https://anything.example', 'localhost', ['*']))
})

t.test('limit options: defaults, validation with coded errors', async (t) => {
  const options = resolveOptions({})
  t.equal(options.heartbeatIntervalMs, 25_000)
  t.equal(options.heartbeatTimeoutMs, 10_000)
  t.equal(options.maxBufferedBytes, 1024 * 1024)
  t.equal(options.maxPayloadBytes, 64 * 1024)
  t.equal(options.maxConnectionsPerIp, 64)
  t.equal(options.handshakeRatePerSec, 20)
  t.equal(options.handshakeBurst, 40)
  t.equal(options.messageRatePerSec, 20)
  t.equal(options.messageBurst, 40)
  t.same(options.allowedOrigins, [])
  t.equal(options.requireSession, false)
  t.equal(DEFAULTS.maxConnections, options.maxConnections)
  t.same(resolveOptions({ allowedOrigins: ['https://a.example:8443'] }).allowedOrigins, ['https://a.example:8443'])
  const bad: Array<[string, unknown]> = [
    ['heartbeatIntervalMs', -1], ['heartbeatTimeoutMs', 0], ['maxBufferedBytes', 10], ['maxConnectionsPerIp', 0],
    ['maxConnections', 1.5], ['handshakeRatePerSec', '20'], ['messageBurst', 0], ['requireSession', 'yes'],
    ['requireOrigin', 1], ['allowedOrigins', 'https://a.example'], ['allowedOrigins', ['https://a.example/path']],
    ['allowedOrigins', ['a.example']], ['allowedOrigins', ['*', 'https://a.example']], ['allowedOrigins', ['ftp://a.example']]
  ]
  for (const [name, value] of bad) {
    t.throws(() => resolveOptions({ [name]: value }), { code: 'FRT_INVALID_OPTION', message: new RegExp(name) }, `${name} = ${JSON.stringify(value)}`)
  }
})

t.test('limit env vars: parsed, validated', async (t) => {
  const base = { NODE_ENV: 'test' }
  const config = loadConfig({ env: { ...base, ALLOWED_ORIGINS: 'https://a.example, http://localhost:8005', REQUIRE_SESSION: 'true', MAX_CONNECTIONS_PER_IP: '3', HEARTBEAT_INTERVAL_MS: '0' }, envFile: false })
  t.same(config.realtime.allowedOrigins, ['https://a.example', 'http://localhost:8005'])
  t.equal(config.realtime.requireSession, true)
  t.equal(config.realtime.maxConnectionsPerIp, 3)
  t.equal(config.realtime.heartbeatIntervalMs, 0)
  const defaults = loadConfig({ env: base, envFile: false })
  t.same(defaults.realtime.allowedOrigins, [])
  t.equal(defaults.realtime.maxBufferedBytes, 1_048_576)
  t.equal(defaults.realtime.maxPayloadBytes, 65_536)
  t.throws(() => loadConfig({ env: { ...base, ALLOWED_ORIGINS: 'https://a.example/' }, envFile: false }), { code: 'FRT_INVALID_CONFIG', message: /ALLOWED_ORIGINS/ })
  t.throws(() => loadConfig({ env: { ...base, MAX_CONNECTIONS_PER_IP: '0' }, envFile: false }), { code: 'FRT_INVALID_CONFIG', message: /MAX_CONNECTIONS_PER_IP/ })
  t.throws(() => loadConfig({ env: { ...base, REQUIRE_SESSION: 'maybe' }, envFile: false }), { code: 'FRT_INVALID_CONFIG', message: /REQUIRE_SESSION/ })
})

t.test('close codes and error codes are one table each', async (t) => {
  t.equal(CloseCode.SLOW_CONSUMER, 4008)
  t.equal(CloseCode.POLICY_VIOLATION, 1008)
  t.equal(CloseCode.MESSAGE_TOO_BIG, 1009)
  t.equal(ClientErrorCode.RATE_LIMITED, 'rate_limited')
})
