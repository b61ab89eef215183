import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { environmentVariables, loadConfig } from '../../src/app/config.js'
import { resolveOptions } from '../../src/options.js'
import { envName, fromEnvText } from '../../src/tunables.js'

const SECRET = 'x'.repeat(40)

t.test('defaults: the tutorial port, a 3 s ticker, no trusted proxy', async (t) => {
  const config = loadConfig({ env: {}, envFile: false })
  t.equal(config.port, 8005)
  t.equal(config.realtime.tickIntervalMs, 3000)
  t.equal(config.nodeEnv, 'development')
  t.equal(config.logLevel, 'info')
  t.same(config.trustProxy, [])
  t.equal(config.sessionSecretGenerated, true, 'a random secret in development')
  t.ok(config.sessionSecret.length >= 32)
  t.not(loadConfig({ env: {}, envFile: false }).sessionSecret, config.sessionSecret, 'random each boot')
})

t.test('values are parsed and typed', async (t) => {
  const config = loadConfig({ env: { PORT: '9001', TICK_INTERVAL_MS: '250', TRUST_PROXY: '127.0.0.1, 10.0.0.0/8,loopback', SESSION_SECRET: SECRET, LOG_LEVEL: 'warn', HOST: '0.0.0.0' }, envFile: false })
  t.equal(config.port, 9001)
  t.equal(config.realtime.tickIntervalMs, 250)
  t.same(config.trustProxy, ['127.0.0.1', '10.0.0.0/8', 'loopback'])
  t.equal(config.sessionSecret, SECRET)
  t.equal(config.sessionSecretGenerated, false)
  t.equal(config.logLevel, 'warn')
  t.equal(config.host, '0.0.0.0')
})

t.test('.env fills in, but never overrides a variable already set', async (t) => {
  const dir = t.testdir()
  const file = join(dir, '.env')
  writeFileSync(file, 'PORT=7000\nTICK_INTERVAL_MS=1500\nHOST=127.0.0.1\n')
  const config = loadConfig({ env: { PORT: '7100' }, envFile: file })
  t.equal(config.port, 7100, 'the environment wins')
  t.equal(config.realtime.tickIntervalMs, 1500, 'the file fills what the environment lacks')
  t.equal(config.host, '127.0.0.1')
  t.equal(loadConfig({ env: {}, envFile: join(dir, 'missing.env') }).port, 8005, 'a missing file is fine')
})

t.test('invalid values stop boot with a message naming the variable', async (t) => {
  t.throws(() => loadConfig({ env: { TICK_INTERVAL_MS: 'soon' }, envFile: false }), { code: 'FRT_INVALID_CONFIG', message: /TICK_INTERVAL_MS \(got "soon"\): expected 0 or an integer from 10 to 86400000 \(milliseconds\)/ })
  t.throws(() => loadConfig({ env: { PORT: '70000' }, envFile: false }), { message: /PORT/ })
  t.throws(() => loadConfig({ env: { LOG_LEVEL: 'loud' }, envFile: false }), { message: /LOG_LEVEL/ })
  t.throws(() => loadConfig({ env: { NODE_ENV: 'staging' }, envFile: false }), { message: /NODE_ENV/ })
  t.throws(() => loadConfig({ env: { SESSION_SECRET: 'short' }, envFile: false }), { message: /SESSION_SECRET/ })
})

t.test('production requires a session secret', async (t) => {
  t.throws(() => loadConfig({ env: { NODE_ENV: 'production' }, envFile: false }), { code: 'FRT_INVALID_CONFIG', message: /SESSION_SECRET is required/ })
  t.equal(loadConfig({ env: { NODE_ENV: 'production', SESSION_SECRET: SECRET }, envFile: false }).sessionSecretGenerated, false)
})

t.test('TRUST_PROXY accepts addresses, CIDRs and proxy-addr names only', async (t) => {
  t.same(loadConfig({ env: { TRUST_PROXY: '::1,fd00::/8' }, envFile: false }).trustProxy, ['::1', 'fd00::/8'])
  t.throws(() => loadConfig({ env: { TRUST_PROXY: 'true' }, envFile: false }), { message: /trusting every peer/ })
  t.throws(() => loadConfig({ env: { TRUST_PROXY: '*' }, envFile: false }), { message: /trusting every peer/ })
  t.throws(() => loadConfig({ env: { TRUST_PROXY: 'proxy.local' }, envFile: false }), { message: /"proxy\.local" is not an IP address/ })
  t.throws(() => loadConfig({ env: { TRUST_PROXY: '10.0.0.0/33' }, envFile: false }), { message: /10\.0\.0\.0\/33/ })
  t.throws(() => loadConfig({ env: { TRUST_PROXY: '10.0.0.0/8/1' }, envFile: false }), { message: /not an IP address/ })
})

t.test('REDIS_SENTINELS with REDIS_SENTINEL_NAME point at a Sentinel deployment, instead of REDIS_URL', async (t) => {
  const config = loadConfig({ env: { REDIS_SENTINELS: '10.0.0.5:26379, sentinel-b.local:26380,[::1]:26381', REDIS_SENTINEL_NAME: 'rtmaster' }, envFile: false })
  const sentinels = [{ host: '10.0.0.5', port: 26379 }, { host: 'sentinel-b.local', port: 26380 }, { host: '::1', port: 26381 }]
  t.same(config.redis, { sentinels, name: 'rtmaster' }, 'what every Redis connection of the demo is made from')
  t.equal(config.redisUrl, undefined)
  t.same(loadConfig({ env: { REDIS_URL: 'redis://10.0.0.9:6379' }, envFile: false }).redis, { url: 'redis://10.0.0.9:6379' }, 'REDIS_URL alone: one server')
  t.equal(loadConfig({ env: {}, envFile: false }).redis, undefined, 'neither: no Redis')
  t.throws(() => loadConfig({ env: { REDIS_URL: 'redis://10.0.0.9:6379', REDIS_SENTINELS: '10.0.0.5:26379', REDIS_SENTINEL_NAME: 'rtmaster' }, envFile: false }), { code: 'FRT_INVALID_CONFIG', message: /REDIS_URL and REDIS_SENTINELS are two ways to reach Redis: set one/ })
  t.throws(() => loadConfig({ env: { REDIS_SENTINELS: '10.0.0.5:26379' }, envFile: false }), { message: /REDIS_SENTINELS and REDIS_SENTINEL_NAME go together/ }, 'sentinels without the name')
  t.throws(() => loadConfig({ env: { REDIS_SENTINEL_NAME: 'rtmaster' }, envFile: false }), { message: /REDIS_SENTINELS and REDIS_SENTINEL_NAME go together/ }, 'a name without sentinels')
  t.throws(() => loadConfig({ env: { REDIS_SENTINELS: '10.0.0.5', REDIS_SENTINEL_NAME: 'rtmaster' }, envFile: false }), { code: 'FRT_INVALID_CONFIG', message: /REDIS_SENTINELS \(got "10\.0\.0\.5"\): entry "10\.0\.0\.5" is not host:port/ })
  t.throws(() => loadConfig({ env: { REDIS_SENTINELS: '10.0.0.5:99999', REDIS_SENTINEL_NAME: 'rtmaster' }, envFile: false }), { message: /entry "10\.0\.0\.5:99999" is not host:port/ })
  t.throws(() => loadConfig({ env: { REDIS_SENTINELS: ' , ', REDIS_SENTINEL_NAME: 'rtmaster' }, envFile: false }), { message: /REDIS_SENTINELS .*lists no sentinel/ })
  t.throws(() => loadConfig({ env: { REDIS_SENTINELS: '10.0.0.5:26379', REDIS_SENTINEL_NAME: 'my master' }, envFile: false }), { message: /REDIS_SENTINEL_NAME \(got "my master"\)/ })
})

t.test('.env.example copied as it is gives the documented defaults (empty means unset)', async (t) => {
  const example = join(import.meta.dirname, '..', '..', '.env.example')
  const fromExample = loadConfig({ env: {}, envFile: example })
  const defaults = loadConfig({ env: {}, envFile: false })
  const comparable = (config: typeof defaults): Record<string, unknown> => ({ ...config, sessionSecret: undefined })
  t.same(comparable(fromExample), comparable(defaults), 'every variable of the example is a default or an empty (unset) one')
  t.equal(fromExample.redisUrl, undefined, 'REDIS_URL= means no Redis')
  t.equal(fromExample.metricsPort, undefined, 'METRICS_PORT= means /metrics on the main port')
  t.equal(fromExample.sessionSecretGenerated, true, 'SESSION_SECRET= means a random one in development')
  const dir = t.testdir()
  writeFileSync(join(dir, '.env'), 'REDIS_URL=\nSESSION_SECRET=\nPORT=7000\n')
  t.equal(loadConfig({ env: { PORT: '' }, envFile: join(dir, '.env') }).port, 7000, 'an empty variable in the environment does not hide the file')
})

t.test('one entry per tunable: a value passes as an environment variable exactly when it passes as a plugin option', async (t) => {
  t.throws(() => loadConfig({ env: { TICK_INTERVAL_MS: '5' }, envFile: false }), { code: 'FRT_INVALID_CONFIG', message: /^Invalid configuration: TICK_INTERVAL_MS \(got "5"\): expected 0 or an integer from 10 to 86400000 \(milliseconds\)$/ }, 'what the plugin refuses is refused at boot, named by its variable')
  t.throws(() => resolveOptions({ tickIntervalMs: 5 }), { code: 'FRT_INVALID_OPTION', message: /"tickIntervalMs": expected 0 or an integer from 10 to 86400000 \(milliseconds\), got 5/ })
  const origins = loadConfig({ env: { ALLOWED_ORIGINS: 'HTTPS://App.example.com, https://b.example:443' }, envFile: false }).realtime.allowedOrigins
  t.same(origins, ['https://app.example.com', 'https://b.example'], 'what the plugin accepts (and normalises) is accepted the same way')
  t.same(resolveOptions({ allowedOrigins: ['HTTPS://App.example.com', 'https://b.example:443'] }).allowedOrigins, origins)
  const samples = ['0', '1', '5', '9', '10', '1000', '3000', '65536', '86400000', '86400001', '-1', '1.5', 'soon', 'true', 'false', 'yes', 'https://a.example', '*', 'https://a.example/', '*,https://a.example']
  for (const { name, key, tunable, plugin } of environmentVariables()) {
    if (!plugin) continue
    t.equal(name, envName(key), `${key} is ${name}`)
    for (const text of samples) {
      let envOk = true
      try { loadConfig({ env: { [name]: text }, envFile: false }) } catch { envOk = false }
      let optionOk = true
      try { resolveOptions({ [key]: fromEnvText(tunable, text) }) } catch { optionOk = false }
      if (envOk !== optionOk) t.fail(`${name}=${text}: the environment ${envOk ? 'accepts' : 'refuses'} what the option ${optionOk ? 'accepts' : 'refuses'}`)
    }
  }
  t.pass('every sample was judged alike by both')
})

t.test('a secret is never repeated in a message', async (t) => {
  t.throws(() => loadConfig({ env: { SESSION_SECRET: 'hunter2' }, envFile: false }), { message: /^Invalid configuration: SESSION_SECRET \(got a value of 7 characters\): expected at least 32 characters$/ })
  t.throws(() => loadConfig({ env: { REDIS_URL: 'http://user:hunter2@cache' }, envFile: false }), { message: /REDIS_URL \(got a value of \d+ characters\): is not a valid redis/ })
})

t.test('the demo\'s Pusher app: all three variables or none, never with REQUIRE_AUTH, its secret never repeated', async (t) => {
  const app = { PUSHER_APP_ID: '1001', PUSHER_APP_KEY: 'demo-key', PUSHER_APP_SECRET: 'a-pusher-secret-0123456789' }
  t.equal(loadConfig({ env: {}, envFile: false }).pusherApp, undefined, 'off by default')
  t.same(loadConfig({ env: app, envFile: false }).pusherApp, { id: '1001', key: 'demo-key', secret: 'a-pusher-secret-0123456789' }, 'on with all three')
  t.throws(() => loadConfig({ env: { PUSHER_APP_ID: '1001', PUSHER_APP_KEY: 'demo-key' }, envFile: false }), { code: 'FRT_INVALID_CONFIG', message: /PUSHER_APP_ID, PUSHER_APP_KEY and PUSHER_APP_SECRET go together: .* \(missing: PUSHER_APP_SECRET\)$/ }, 'two of three: the missing one is named')
  t.throws(() => loadConfig({ env: { PUSHER_APP_SECRET: app.PUSHER_APP_SECRET }, envFile: false }), { message: /\(missing: PUSHER_APP_ID, PUSHER_APP_KEY\)$/ }, 'one of three')
  t.throws(() => loadConfig({ env: { ...app, REQUIRE_AUTH: 'true' }, envFile: false }), { message: /cannot be combined with REQUIRE_AUTH=true/ }, 'not with REQUIRE_AUTH')
  t.throws(() => loadConfig({ env: { ...app, PUSHER_APP_KEY: 'no spaces' }, envFile: false }), { message: /^Invalid configuration: PUSHER_APP_KEY \(got "no spaces"\): expected 1 to 128 letters/ }, 'a bad key is named and shown')
  const error = (() => { try { loadConfig({ env: { ...app, PUSHER_APP_SECRET: 'short' }, envFile: false }) } catch (err) { return err as Error } })()
  t.match(error?.message, /^Invalid configuration: PUSHER_APP_SECRET \(got a value of 5 characters\): expected 8 to 1024 characters$/, 'a bad secret is refused')
  t.notMatch(error?.message, /short/, 'without repeating it')
})
