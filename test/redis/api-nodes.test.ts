/**
 * The HTTP API on two real nodes sharing a private Redis: the same publish retried fifty times at
 * once, half to each node, is one publication with fifty identical answers, and after the
 * idempotency window a new one; channels and node info are gathered from both nodes; a user with
 * sockets on both nodes is reached, subscribed and disconnected through one node's API; and
 * `fastify.realtime.broadcast` has the scope of `POST <api>/broadcast`, every node's sockets,
 * with `{ local: true }` the explicit way to reach this node's only.
 */
import { join } from 'node:path'
import t from 'tap'
import { RedisAdapter } from '../../src/adapters/redis/index.js'
import { bareApp } from '../helpers/realtime-app.js'
import { startNode } from '../helpers/process.js'
import { TestRedisServer } from '../helpers/redis-server.js'
import { connect, sleep, type RecordingClient } from '../helpers/ws-client.js'

const KEY = 'n'.repeat(48)

/** Poll until `ready` holds; a timeout is a failure. */
async function until (ready: () => boolean, what: string, timeoutMs: number): Promise<void> {
  const started = Date.now()
  while (!ready()) {
    if (Date.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`)
    await sleep(10)
  }
}
const WINDOW_MS = 1500

// The same two nodes whether their RedisAdapter is given a URL or an ioredis client.
for (const via of ['url', 'client'] as const) {
  t.test(`two nodes: idempotent publish across them, channels and nodes gathered from both (Redis by ${via})`, async (t) => {
    const redis = await TestRedisServer.start()
    t.teardown(() => redis.destroy())
    const nodes = await Promise.all([0, 1].map(async () => {
      // With a client, the node knows Redis only through the ioredis client its app made.
      const where: Record<string, string> = via === 'url' ? { REDIS_URL: redis.url } : { REDIS_CLIENT_PORT: new URL(redis.url).port }
      const proc = startNode([join('test', 'fixtures', 'realtime-node.mjs')], { ...where, REDIS_KEY_PREFIX: 'api:', API_KEY: KEY, IDEMPOTENCY_TTL_MS: String(WINDOW_MS) })
      t.teardown(() => { if (proc.child.exitCode === null) proc.child.kill('SIGKILL') })
      return `http://127.0.0.1:${await proc.listening()}`
    }))
    const [a, b] = nodes
    if (a === undefined || b === undefined) throw new Error('nodes')
    const publish = async (base: string, data: unknown, idempotencyKey: string): Promise<Record<string, unknown>> => {
      const response = await fetch(`${base}/api/publish`, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ channel: 'room:1', data, idempotencyKey }) })
      if (response.status !== 200) throw new Error(`publish answered ${response.status}: ${await response.text()}`)
      return await response.json() as Record<string, unknown>
    }
    const subscribers = await Promise.all([a, b, b].map(async (base) => {
      const client = await connect(`${base.replace('http', 'ws')}/ws`)
      client.socket.send(JSON.stringify({ type: 'sub', channel: 'room:1', id: 1 }))
      await client.waitFor('ack')
      return client
    }))
    t.teardown(() => { for (const client of subscribers) client.socket.terminate() })

    const answers = await Promise.all(Array.from({ length: 50 }, async (_, i) => await publish(i % 2 === 0 ? a : b, 'payment 7 settled', 'payment-7')))
    t.equal(new Set(answers.map((answer) => `${String(answer.epoch)}:${String(answer.offset)}:${String(answer.t)}`)).size, 1, 'fifty identical answers from two nodes')
    t.equal(answers.filter((answer) => answer.duplicate === false).length, 1, 'exactly one of them published')
    // A marker published after all fifty answers comes after any copy in the channel's order: once
    // each subscriber has it, whatever the fifty produced has arrived (no guessed sleep).
    const marker = await publish(a, 'marker', 'marker-1')
    for (const client of subscribers) {
      await until(() => client.ofType('pub').some((frame) => frame.data === 'marker'), 'the marker', 10_000)
      t.same(client.ofType('pub').map((frame) => frame.data), ['payment 7 settled', 'marker'], 'each subscriber, on either node, got it once')
    }

    // The window is the subject here: waiting it out is the point, and a slow machine only waits longer.
    await sleep(WINDOW_MS + 200)
    const later = await publish(b, 'payment 7 settled', 'payment-7')
    t.equal(later.duplicate, false, 'after the window the same key publishes again')
    t.equal(later.offset, Number(marker.offset) + 1)

    const read = async (path: string): Promise<Record<string, unknown>> => await (await fetch(`${a}/api${path}`, { headers: { authorization: `Bearer ${KEY}` } })).json() as Record<string, unknown>
    t.same((await read('/channels')).channels, [{ channel: 'room:1', subscribers: 3, nodes: 2 }], 'subscribers summed across both nodes')
    const reports = await read('/nodes') as { nodes: Array<{ connections: number }> }
    t.same(reports.nodes.map((node) => node.connections).sort(), [1, 2], 'both nodes report')
  })
}

t.test('two nodes: the user routes of one node reach the user\'s sockets on both, and nobody else', async (t) => {
  const redis = await TestRedisServer.start()
  t.teardown(() => redis.destroy())
  const [a, b] = await Promise.all([0, 1].map(async () => {
    const proc = startNode([join('test', 'fixtures', 'realtime-node.mjs')], { REDIS_URL: redis.url, REDIS_KEY_PREFIX: 'users:', API_KEY: KEY })
    t.teardown(() => { if (proc.child.exitCode === null) proc.child.kill('SIGKILL') })
    return `http://127.0.0.1:${await proc.listening()}`
  }))
  if (a === undefined || b === undefined) throw new Error('nodes')
  const call = async (method: string, path: string, body: unknown): Promise<number> =>
    (await fetch(`${a}/api${path}`, { method, headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })).status
  const open = async (base: string, visitor: string): Promise<RecordingClient> => {
    const client = await connect(`${base.replace('http', 'ws')}/ws?visitor=${visitor}`)
    t.teardown(() => client.socket.terminate())
    await client.waitFor('welcome')
    return client
  }
  const anns = [await open(a, 'ann'), await open(b, 'ann')]
  const bob = await open(b, 'bob')

  t.equal(await call('POST', '/users/ann/messages', { data: 'hello ann' }), 202)
  for (const ann of anns) t.equal((await ann.waitFor('direct'))[0]?.data, 'hello ann', 'on either node')
  t.equal(await call('POST', '/users/ann/subscriptions', { channel: 'room:9' }), 202)
  for (const ann of anns) await ann.waitFor('subscribed')
  t.equal(await call('POST', '/publish', { channel: 'room:9', data: 'in room 9' }), 200)
  for (const ann of anns) t.equal((await ann.waitFor('pub'))[0]?.data, 'in room 9')
  t.equal(await call('POST', '/users/ann/disconnect', { code: 4502, reason: 'banned' }), 202)
  for (const ann of anns) t.same(await ann.closed, { code: 4502, reason: 'banned' })
  // A message to bob sent after all of it arrives after anything of it that went astray.
  t.equal(await call('POST', '/users/bob/messages', { data: 'hello bob' }), 202)
  await bob.waitFor('direct', 1, 10_000)
  t.equal(bob.socket.readyState, bob.socket.OPEN, 'bob stays')
  t.same(bob.frames.map((f) => [f.type, f.data]), [['welcome', undefined], ['direct', 'hello bob']], 'and got none of ann\'s, only his own')
})

t.test('two nodes: fastify.realtime.broadcast reaches every node\'s sockets, as POST <api>/broadcast does; { local: true } this node\'s only', async (t) => {
  const redis = await TestRedisServer.start()
  t.teardown(() => redis.destroy())
  // Two nodes in this process, each with its own Redis adapter on the shared server.
  const [a, b] = await Promise.all([0, 1].map(async () => await bareApp(t, {
    channels: [{ name: 'room:*' }],
    adapter: new RedisAdapter({ url: redis.url, keyPrefix: 'scope:' }),
    api: { prefix: '/api', keys: [{ key: KEY }] }
  })))
  if (a === undefined || b === undefined) throw new Error('nodes')
  const socketOf = async (ws: string): Promise<RecordingClient> => {
    const client = await connect(`${ws}/ws`)
    t.teardown(() => client.socket.terminate())
    await client.waitFor('welcome')
    return client
  }
  const [onA, onB] = [await socketOf(a.ws), await socketOf(b.ws)]
  const httpBroadcast = async (http: string, data: string): Promise<number> =>
    (await fetch(`${http}/api/broadcast`, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ data }) })).status

  await a.app.realtime.broadcast('from A')
  t.equal(await httpBroadcast(b.http, 'everyone 1'), 202)
  // Each local call once the socket of its node has what came before it (the order checked below).
  await onA.waitFor('broadcast', 2)
  t.equal(a.app.realtime.broadcast('only A', { local: true }), 1, 'the local variant on A counts the one socket of A')
  await b.app.realtime.broadcast('from B')
  await onB.waitFor('broadcast', 3)
  t.equal(b.app.realtime.broadcast('only B', { local: true }), 1, 'the local variant on B counts the one socket of B')
  t.equal(await httpBroadcast(a.http, 'everyone 2'), 202)
  await onA.waitFor('broadcast', 5)
  await onB.waitFor('broadcast', 5)
  // Each cluster-wide broadcast is sent after the local call before it returned: had that call
  // gone to the other node too, it would have arrived there before the one that followed it.
  t.same(onA.ofType('broadcast').map((frame) => frame.data), ['from A', 'everyone 1', 'only A', 'from B', 'everyone 2'], 'A\'s socket: both decorators\' and both HTTP broadcasts, its own local one, not B\'s')
  t.same(onB.ofType('broadcast').map((frame) => frame.data), ['from A', 'everyone 1', 'from B', 'only B', 'everyone 2'], 'B\'s socket: both decorators\' and both HTTP broadcasts, its own local one, not A\'s')
})

t.test('two nodes: a key reused with another body is refused (409) whichever node gets it, concurrent requests included', async (t) => {
  const redis = await TestRedisServer.start()
  t.teardown(() => redis.destroy())
  const nodes = await Promise.all([0, 1].map(async () => {
    const proc = startNode([join('test', 'fixtures', 'realtime-node.mjs')], { REDIS_URL: redis.url, REDIS_KEY_PREFIX: 'reuse:', API_KEY: KEY })
    t.teardown(() => { if (proc.child.exitCode === null) proc.child.kill('SIGKILL') })
    return `http://127.0.0.1:${await proc.listening()}`
  }))
  const publish = async (base: string, data: unknown): Promise<{ status: number, body: Record<string, unknown> }> => {
    const response = await fetch(`${base}/api/publish`, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ channel: 'room:9', data, idempotencyKey: 'refund-9' }) })
    return { status: response.status, body: await response.json() as Record<string, unknown> }
  }
  // Twenty at once over both nodes, two bodies under one key: one publishes, its body's others
  // are its duplicates, the other body's are refused.
  const answers = await Promise.all(Array.from({ length: 20 }, async (_, i) => await publish(nodes[i % 2] ?? '', { refund: i % 4 < 2 ? 'full' : 'half' })))
  const published = answers.filter((answer) => answer.status === 200)
  t.equal(published.filter((answer) => answer.body.duplicate === false).length, 1, 'one published')
  t.equal(published.length, 10, 'ten answered 200: the winner and its body\'s duplicates')
  t.equal(new Set(published.map((answer) => `${String(answer.body.epoch)}:${String(answer.body.offset)}`)).size, 1, 'all with the one position')
  const refused = answers.filter((answer) => answer.status !== 200)
  t.equal(refused.length, 10, 'ten refused')
  t.ok(refused.every((answer) => answer.status === 409 && answer.body.code === 'FRT_IDEMPOTENCY_KEY_REUSED'), 'each with 409 FRT_IDEMPOTENCY_KEY_REUSED')
  const history = await (await fetch(`${nodes[1] ?? ''}/api/channels/room:9/history`, { headers: { authorization: `Bearer ${KEY}` } })).json() as { publications: unknown[] }
  t.equal(history.publications.length, 1, 'the history holds one publication')
})
