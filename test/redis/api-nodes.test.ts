/**
 * The HTTP API on two real nodes sharing a private Redis: the same publish retried fifty times at
 * once, half to each node, is one publication with fifty identical answers, and after the
 * idempotency window a new one; channels and node info are gathered from both nodes; a user with
 * sockets on both nodes is reached, subscribed and disconnected through one node's API.
 */
import { join } from 'node:path'
import t from 'tap'
import { startNode } from '../helpers/process.js'
import { TestRedisServer } from '../helpers/redis-server.js'
import { connect, sleep, type RecordingClient } from '../helpers/ws-client.js'

const KEY = 'n'.repeat(48)
const WINDOW_MS = 1500

t.test('two nodes: idempotent publish across them, channels and nodes gathered from both', async (t) => {
  const redis = await TestRedisServer.start()
  t.teardown(() => redis.destroy())
  const nodes = await Promise.all([0, 1].map(async () => {
    const proc = startNode([join('test', 'fixtures', 'realtime-node.mjs')], { REDIS_URL: redis.url, REDIS_KEY_PREFIX: 'api:', API_KEY: KEY, IDEMPOTENCY_TTL_MS: String(WINDOW_MS) })
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
  await sleep(300)
  for (const client of subscribers) t.equal(client.ofType('pub').length, 1, 'each subscriber, on either node, got it once')

  await sleep(WINDOW_MS + 200)
  const later = await publish(b, 'payment 7 settled', 'payment-7')
  t.equal(later.duplicate, false, 'after the window the same key publishes again')
  t.equal(later.offset, Number(answers[0]?.offset) + 1)

  const read = async (path: string): Promise<Record<string, unknown>> => await (await fetch(`${a}/api${path}`, { headers: { authorization: `Bearer ${KEY}` } })).json() as Record<string, unknown>
  t.same((await read('/channels')).channels, [{ channel: 'room:1', subscribers: 3, nodes: 2 }], 'subscribers summed across both nodes')
  const info = await read('/info') as { nodes: Array<{ connections: number }> }
  t.same(info.nodes.map((node) => node.connections).sort(), [1, 2], 'both nodes report')
})

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
  await sleep(200)
  t.equal(bob.socket.readyState, bob.socket.OPEN, 'bob stays')
  t.same(bob.frames.map((f) => f.type), ['welcome'], 'and got none of it')
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
