import t from 'tap'
import { clipCloseReason, MAX_CLOSE_REASON_BYTES } from '../../src/errors.js'
import { noopMetrics } from '../../src/metrics/metrics.js'
import { DEFAULTS, resolveOptions, type RealtimePluginOptions } from '../../src/options.js'

t.test('defaults are applied and the result is frozen', async (t) => {
  const options = resolveOptions(undefined)
  t.equal(options.path, '/ws')
  t.equal(options.tickIntervalMs, DEFAULTS.tickIntervalMs)
  t.equal(options.maxPayloadBytes, 65536)
  t.equal(options.closeGraceMs, 10_000)
  t.equal(options.metrics, noopMetrics)
  t.equal(options.prefix, '')
  t.equal(options.tick({ connections: 0, now: 0 }), null)
  t.ok(Object.isFrozen(options))
})

t.test('bad options throw a coded error naming the option', async (t) => {
  const bad: Array<[unknown, RegExp]> = [
    [{ tickIntervalMs: 'soon' }, /"tickIntervalMs": expected 0 or an integer from 10/],
    [{ tickIntervalMs: 5 }, /tickIntervalMs/],
    [{ tickIntervalMs: 1.5 }, /tickIntervalMs/],
    [{ path: 'ws' }, /"path": expected a route path starting with "\/"/],
    [{ path: '/a b' }, /"path"/],
    [{ tick: 42 }, /"tick": expected a function, got number/],
    [{ identify: 'session' }, /"identify"/],
    [{ maxPayloadBytes: 0 }, /"maxPayloadBytes"/],
    [{ maxPayloadBytes: 1e9 }, /"maxPayloadBytes"/],
    [{ closeGraceMs: -1 }, /"closeGraceMs"/],
    [{ tickInterval: 100 }, /"tickInterval": unknown option; known options are/],
    [{ metrics: {} }, /"metrics": missing method\(s\) connectionOpened/],
    [{ metrics: 3 }, /"metrics": expected an object/],
    [{ prefix: 3 }, /"prefix"/]
  ]
  for (const [raw, message] of bad) {
    t.throws(() => resolveOptions(raw as RealtimePluginOptions), { code: 'FRT_INVALID_OPTION', message }, JSON.stringify(raw))
  }
})

t.test('tickIntervalMs 0 turns the ticker off; Fastify register keys are accepted', async (t) => {
  t.equal(resolveOptions({ tickIntervalMs: 0 }).tickIntervalMs, 0)
  t.equal(resolveOptions({ prefix: '/rt', logLevel: 'warn' } as RealtimePluginOptions).prefix, '/rt')
})

t.test('close reasons are clipped to 123 bytes without splitting a character', async (t) => {
  t.equal(clipCloseReason('short'), 'short')
  const long = 'é'.repeat(100) // 200 bytes
  const clipped = clipCloseReason(long)
  t.ok(Buffer.byteLength(clipped) <= MAX_CLOSE_REASON_BYTES)
  t.equal(clipped, 'é'.repeat(61))
})
