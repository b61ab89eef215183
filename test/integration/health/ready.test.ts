/**
 * GET /ready (readiness) and GET /health (liveness): /ready turns 503 the moment a drain starts
 * and whenever a readiness check (an adapter, a limit) fails; /health stays 200 while the process serves.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import realtime from '../../../src/index.js'
import health from '../../../routes/health.js'
import ready from '../../../routes/ready.js'
import { packageRoot } from '../../../src/app/paths.js'
import { buildApp, listen, type TestLike } from '../../helpers/app.js'
import { connect } from '../../helpers/ws-client.js'

interface ReadyBody {
  status: string
  connections: number
  checks: Record<string, { ok: boolean, detail?: string }>
}

async function getReady (base: string): Promise<{ status: number, body: ReadyBody }> {
  const response = await fetch(`${base}/ready`)
  return { status: response.status, body: await response.json() as ReadyBody }
}

/** A bare app with the plugin and the demo's /health and /ready routes. */
async function bareApp (t: TestLike, closeGraceMs: number): Promise<FastifyInstance> {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(realtime, { tickIntervalMs: 0, closeGraceMs })
  await app.register(health)
  await app.register(ready)
  return app
}

t.test('the demo app is ready and live', async (t) => {
  const { app, logs } = await buildApp(t)
  const { http } = await listen(app)
  const { status, body } = await getReady(http)
  t.equal(status, 200)
  t.same(body, { status: 'ready', connections: 0, checks: { draining: { ok: true }, adapter: { ok: true, detail: 'memory' }, capacity: { ok: true } } })
  const live = await fetch(`${http}/health`)
  t.equal(live.status, 200)
  t.same(await live.json(), { status: 'ok', connections: 0 })
  t.equal(live.headers.get('cache-control'), null)
  t.equal(logs.lines.filter((line) => (line.req as { url?: string } | undefined)?.url === '/ready').length, 0, 'probe requests are not logged at info')
})

t.test('/ready turns 503 as soon as a drain starts, while sockets are still closing', async (t) => {
  const app = await bareApp(t, 5000)
  const { http, ws } = await listen(app)
  const client = await connect(`${ws}/ws`)
  t.teardown(() => client.socket.terminate())
  await client.waitFor('welcome')
  t.equal((await getReady(http)).status, 200, 'ready before the drain')

  // The client stops reading, so it cannot answer the 1001: the drain stays in progress.
  client.socket.pause()
  const drained = app.realtime.drain()
  const during = await getReady(http)
  t.equal(during.status, 503, '503 during the drain')
  t.equal(during.body.status, 'unavailable')
  t.same(during.body.checks.draining, { ok: false, detail: 'draining' })
  t.equal(during.body.connections, 1, 'the socket is still open: the drain has only begun')
  t.equal((await fetch(`${http}/health`)).status, 200, 'still live while draining')

  client.socket.resume()
  await drained
  t.equal(app.realtime.connections, 0)
  t.equal((await getReady(http)).status, 503, 'stays unavailable after the drain')
})

t.test('a failing readiness check (e.g. an upstream the app needs) turns /ready 503 until it recovers', async (t) => {
  // The adapter's own check is tested with a real Redis in test/redis/multi-node.test.ts.
  const app = await bareApp(t, 1000)
  let redisUp = true
  const remove = app.realtime.addReadinessCheck('upstream', () => redisUp ? { ok: true, detail: 'redis: ready' } : { ok: false, detail: 'redis: reconnecting' })
  const { http } = await listen(app)

  let result = await getReady(http)
  t.equal(result.status, 200)
  t.same(result.body.checks.upstream, { ok: true, detail: 'redis: ready' })

  redisUp = false
  result = await getReady(http)
  t.equal(result.status, 503, 'upstream down: not ready')
  t.same(result.body.checks, { draining: { ok: true }, adapter: { ok: true, detail: 'memory' }, capacity: { ok: true }, upstream: { ok: false, detail: 'redis: reconnecting' } })
  t.equal((await fetch(`${http}/health`)).status, 200, 'still live')

  redisUp = true
  t.equal((await getReady(http)).status, 200, 'ready again once the upstream is back')

  app.realtime.addReadinessCheck('database', () => { throw new Error('pool exhausted') })
  result = await getReady(http)
  t.equal(result.status, 503, 'a probe that throws counts as not ready')
  t.same(result.body.checks.database, { ok: false, detail: 'probe threw: pool exhausted' })

  remove()
  t.notOk('upstream' in (await getReady(http)).body.checks, 'a check can be removed')
})

t.test('during fastify.close() (the SIGTERM path) /ready answers 503 while the sockets drain', async (t) => {
  const app = await bareApp(t, 5000)
  const { http, ws } = await listen(app)
  const client = await connect(`${ws}/ws`)
  t.teardown(() => client.socket.terminate())
  await client.waitFor('welcome')
  client.socket.pause() // keep the drain in progress
  const closing = app.close()
  await new Promise((resolve) => setImmediate(resolve))
  t.ok(app.realtime.stats().draining, 'the drain has started')
  const during = await fetch(`${http}/ready`)
  // While closing, Fastify answers every request 503 itself (return503OnClosing), ours included.
  t.equal(during.status, 503, 'a balancer polling /ready sees 503 while the server drains')
  t.equal(app.realtime.connections, 1, 'the socket is still draining')
  client.socket.resume()
  await closing
  t.equal((await client.closed).code, 1001, 'the client got its 1001')
})

t.test('the body of /ready has the shape and the check names docs/operations.md shows', async (t) => {
  const doc = readFileSync(join(packageRoot, 'docs', 'operations.md'), 'utf8')
  const section = doc.slice(doc.indexOf('### Liveness and readiness'), doc.indexOf('Kubernetes example'))
  const example = JSON.parse(/```json\n([\s\S]*?)```/.exec(section)?.[1] ?? 'null') as ReadyBody
  const app = await bareApp(t, 1000)
  const { http } = await listen(app)
  await app.realtime.drain()
  const { status, body } = await getReady(http)
  t.equal(status, 503)
  t.same(Object.keys(body).sort(), Object.keys(example).sort(), 'the same fields')
  t.equal(body.status, example.status, `status "${example.status}"`)
  t.type(example.connections, 'number')
  t.same(Object.keys(body.checks).sort(), Object.keys(example.checks).sort(), 'the same checks, by the same names')
  for (const [name, check] of Object.entries(body.checks)) {
    const documented = example.checks[name]
    t.equal(check.ok, documented?.ok, `${name}: ok ${String(documented?.ok)}`)
    t.same(Object.keys(check).sort(), Object.keys(documented ?? {}).sort(), `${name}: the same fields`)
    if (name !== 'adapter') t.equal(check.detail, documented?.detail, `${name}: the same detail`)
    t.match(section, `\`${name}\``, `the text names the ${name} check`)
  }
  // The example is a Redis node's; this one runs the memory adapter: the detail is the adapter's name.
  t.equal(body.checks.adapter?.detail, 'memory')
  t.match(section, '`memory` or `redis`', 'the text says the adapter check\'s detail is the adapter\'s name')
})
