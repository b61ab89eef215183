/**
 * One server API: on two real nodes sharing a private Redis, every verb is called once through
 * the decorator (`fastify.realtime.<verb>`) and once through its HTTP route, both on node A, and
 * each must have the same effect with the same scope: sockets on both nodes reached (or, for
 * the one explicit node-local variant, `broadcast(data, { local: true })`, only A's), the same
 * answers, the same refusals (idempotency keys shared between the two surfaces).
 */
import t from 'tap'
import { RedisAdapter } from '../../src/adapters/redis/index.js'
import { bareApp, type BareApp } from '../helpers/realtime-app.js'
import { TestRedisServer } from '../helpers/redis-server.js'
import { connect, sleep, type Frame, type RecordingClient } from '../helpers/ws-client.js'

const KEY = 'p'.repeat(48)

/** Poll until `ready` resolves true; a timeout is a failure. */
async function until (ready: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const started = Date.now()
  while (!(await ready())) {
    if (Date.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`)
    await sleep(10)
  }
}

interface Answer { status: number, body: Record<string, unknown> }

t.test('the decorator and the HTTP API: the same verbs, with the same effect and scope, on a Redis pair', async (t) => {
  const redis = await TestRedisServer.start()
  t.teardown(() => redis.destroy())
  const node = async (): Promise<BareApp> => await bareApp(t, {
    identify: (request) => {
      const visitor = new URL(request.url, 'http://node').searchParams.get('visitor')
      return visitor === null ? null : { id: visitor }
    },
    channels: [{ name: 'room:*', presence: true, historySize: 100 }],
    adapter: new RedisAdapter({ url: redis.url, keyPrefix: 'parity:', presenceSweepIntervalMs: 200 }),
    api: { prefix: '/api', keys: [{ key: KEY }] }
  })
  const A = await node()
  const B = await node()
  const a = A.app.realtime
  const http = async (method: string, path: string, body?: unknown): Promise<Answer> => {
    const response = await fetch(`${A.http}/api${path}`, {
      method,
      headers: { authorization: `Bearer ${KEY}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) })
    })
    const text = await response.text()
    return { status: response.status, body: text === '' ? {} : JSON.parse(text) as Record<string, unknown> }
  }
  const open = async (on: BareApp, visitor?: string): Promise<RecordingClient> => {
    const client = await connect(`${on.ws}/ws${visitor === undefined ? '' : `?visitor=${visitor}`}`)
    t.teardown(() => client.socket.terminate())
    await client.waitFor('welcome')
    return client
  }
  const subscribe = async (client: RecordingClient, channel: string): Promise<void> => {
    client.socket.send(JSON.stringify({ type: 'sub', channel, id: channel }))
    await until(() => client.frames.some((frame) => frame.type === 'ack' && frame.id === channel), `ack of ${channel}`)
  }
  const annA = await open(A, 'ann')
  const annB = await open(B, 'ann')
  const bobB = await open(B, 'bob')
  const everyone = [annA, annB, bobB]
  const anns = [annA, annB]
  for (const client of everyone) await subscribe(client, 'room:1')
  const pubs = (client: RecordingClient, channel = 'room:1'): unknown[] => client.ofType('pub').filter((frame) => frame.channel === channel).map((frame) => frame.data)

  await t.test('publish: one position whichever surface, one key space, the same refusals', async (t) => {
    const first = await a.publish('room:1', { n: 1 }, { idempotencyKey: 'order-1' })
    t.match(first, { channel: 'room:1', offset: 1 })
    t.equal(first.duplicate, undefined, 'the decorator published')
    const retried = await http('POST', '/publish', { channel: 'room:1', data: { n: 1 }, idempotencyKey: 'order-1' })
    t.same(retried, { status: 200, body: { channel: 'room:1', offset: 1, epoch: first.epoch, t: first.t, duplicate: true } }, 'the HTTP retry of the decorator\'s publish is its duplicate')
    const second = await http('POST', '/publish', { channel: 'room:1', data: { n: 2 }, idempotencyKey: 'order-2' })
    t.match(second, { status: 200, body: { offset: 2, duplicate: false } }, 'the HTTP route published')
    t.match(await a.publish('room:1', { n: 2 }, { idempotencyKey: 'order-2' }), { offset: 2, epoch: first.epoch, t: second.body.t, duplicate: true }, 'the decorator\'s retry of the HTTP publish is its duplicate')

    await t.rejects(a.publish('room:1', { n: 3 }, { idempotencyKey: 'order-1' }), { code: 'FRT_IDEMPOTENCY_KEY_REUSED' }, 'a key reused with another body: refused by the decorator')
    t.match(await http('POST', '/publish', { channel: 'room:1', data: { n: 3 }, idempotencyKey: 'order-2' }), { status: 409, body: { code: 'FRT_IDEMPOTENCY_KEY_REUSED' } }, 'and by the route')
    await t.rejects(a.publish('room:1', { n: 3 }, { idempotencyKey: 'with space' }), { code: 'FRT_INVALID_ARGUMENT' }, 'a malformed key: refused by the decorator')
    t.match(await http('POST', '/publish', { channel: 'room:1', data: { n: 3 }, idempotencyKey: 'with space' }), { status: 400 }, 'and by the route')
    await t.rejects(a.publish('nowhere', 1), { code: 'FRT_UNKNOWN_CHANNEL' })
    t.match(await http('POST', '/publish', { channel: 'nowhere', data: 1 }), { status: 404, body: { code: 'FRT_UNKNOWN_CHANNEL' } })

    const marker = await a.publish('room:1', 'marker')
    t.equal(marker.offset, 3, 'nothing refused was published')
    for (const client of everyone) {
      await until(() => pubs(client).includes('marker'), 'the marker')
      t.same(pubs(client), [{ n: 1 }, { n: 2 }, 'marker'], 'each subscriber, on either node, got each publication once')
    }
  })

  await t.test('publishBatch: in order, all or none for its channels', async (t) => {
    t.same((await a.publishBatch([{ channel: 'room:1', data: 'b1' }, { channel: 'room:1', data: 'b2' }])).map((publication) => publication.offset), [4, 5])
    const batch = await http('POST', '/publish/batch', { publications: [{ channel: 'room:1', data: 'b3' }, { channel: 'room:1', data: 'b4' }] })
    t.same((batch.body.publications as Array<{ offset: number }>).map((publication) => publication.offset), [6, 7])
    await t.rejects(a.publishBatch([{ channel: 'room:1', data: 'never' }, { channel: 'nowhere', data: 'never' }]), { code: 'FRT_UNKNOWN_CHANNEL' })
    t.match(await http('POST', '/publish/batch', { publications: [{ channel: 'room:1', data: 'never' }, { channel: 'nowhere', data: 'never' }] }), { status: 404, body: { code: 'FRT_UNKNOWN_CHANNEL' } })
    t.equal((await a.publish('room:1', 'after batches')).offset, 8, 'neither refused batch published anything')
    for (const client of everyone) {
      await until(() => pubs(client).includes('after batches'), 'the last publication')
      t.same(pubs(client).slice(3), ['b1', 'b2', 'b3', 'b4', 'after batches'], 'both batches reached every subscriber, in order')
    }
  })

  await t.test('history: the same publications, newest or since a position, from either node', async (t) => {
    const viaHttp = await http('GET', '/channels/room:1/history?limit=3')
    const viaDecorator = await a.history('room:1', { limit: 3 })
    const fromB = await B.app.realtime.history('room:1', { limit: 3 })
    const entries = (publications: Array<{ offset: number, epoch: string, t: number, data: unknown }>): unknown[] => publications.map(({ offset, epoch, t, data }) => ({ offset, epoch, t, data }))
    t.same(viaHttp.body, { channel: 'room:1', position: viaDecorator.position, publications: entries(viaDecorator.publications) })
    t.same(entries(fromB.publications), entries(viaDecorator.publications), 'node B reads the same history')
    t.same(viaDecorator.publications.map((publication) => publication.data), ['b3', 'b4', 'after batches'], 'the newest three')
    const epoch = viaDecorator.position.epoch
    const since = await a.history('room:1', { since: { offset: 6, epoch } })
    t.same(await http('GET', `/channels/room:1/history?offset=6&epoch=${epoch}`), { status: 200, body: { channel: 'room:1', position: since.position, recovered: true, publications: entries(since.publications) } })
    t.equal('recovered' in since && since.recovered, true)
    t.equal((await a.history('room:1')).publications.length, 8, 'the same default limit (100) without a position')
    t.equal(((await http('GET', '/channels/room:1/history')).body.publications as unknown[]).length, 8)
    await t.rejects(a.history('room:1', { limit: 0 }), { code: 'FRT_INVALID_ARGUMENT' })
    t.match(await http('GET', '/channels/room:1/history?limit=0'), { status: 400 })
    await t.rejects(a.history('nowhere'), { code: 'FRT_UNKNOWN_CHANNEL' })
    t.match(await http('GET', '/channels/nowhere/history'), { status: 404, body: { code: 'FRT_UNKNOWN_CHANNEL' } })
  })

  await t.test('presence, presenceCount, channels and nodes: counted across both nodes', async (t) => {
    // Node A holds only ann's socket: bob, and the second subscriber, are B's.
    await until(async () => (await a.presenceCount('room:1')) === 2, 'both visitors present')
    const members = await a.presence('room:1')
    t.same([...members].sort((x, y) => x.id.localeCompare(y.id)), [{ id: 'ann' }, { id: 'bob' }])
    const viaHttp = await http('GET', '/channels/room:1/presence')
    t.same(viaHttp.body, { channel: 'room:1', members }, 'the route answers the decorator\'s members')
    t.same((await http('GET', '/channels/room:1/presence/count')).body, { channel: 'room:1', members: 2 })
    await t.rejects(a.presence('nowhere'), { code: 'FRT_UNKNOWN_CHANNEL' })
    await t.rejects(a.presenceCount('nowhere'), { code: 'FRT_UNKNOWN_CHANNEL' })
    t.match(await http('GET', '/channels/nowhere/presence/count'), { status: 404 })

    t.same(await a.channels(), [{ channel: 'room:1', subscribers: 3, nodes: 2 }], 'the decorator sums both nodes')
    t.same((await http('GET', '/channels')).body, { channels: [{ channel: 'room:1', subscribers: 3, nodes: 2 }] }, 'and so does the route')

    const reports = await a.nodes()
    t.same(reports.map((report) => report.connections).sort(), [1, 2], 'the decorator hears both nodes')
    const viaRoute = (await http('GET', '/nodes')).body.nodes as Array<{ nodeId: string, connections: number }>
    t.same(viaRoute.map((report) => [report.nodeId, report.connections]), reports.map((report) => [report.nodeId, report.connections]), 'the route the same ones, in the same order')
  })

  await t.test('broadcast: every node\'s sockets from either surface; { local: true } this node\'s only', async (t) => {
    await a.broadcast('decorator')
    t.same(await http('POST', '/broadcast', { data: 'route' }), { status: 202, body: { accepted: true } })
    await annA.waitFor('broadcast', 2) // the order checked below
    t.equal(a.broadcast('local', { local: true }), 1, 'the local variant counts A\'s one socket')
    // Sent after the local one returned: had that gone to B, it would have arrived there first.
    await a.broadcast('end')
    for (const client of everyone) await until(() => client.ofType('broadcast').some((frame) => frame.data === 'end'), 'the last broadcast')
    const seen = (client: RecordingClient): unknown[] => client.ofType('broadcast').map((frame) => frame.data)
    t.same(seen(annA), ['decorator', 'route', 'local', 'end'], 'A\'s socket: all four')
    t.same(seen(annB), ['decorator', 'route', 'end'], 'B\'s sockets: both cluster-wide broadcasts, not A\'s local one')
    t.same(seen(bobB), ['decorator', 'route', 'end'])
  })

  await t.test('sendToUser: the user\'s sockets on both nodes, nobody else', async (t) => {
    await a.sendToUser('ann', 'decorator')
    t.equal((await http('POST', '/users/ann/messages', { data: 'route' })).status, 202)
    await a.sendToUser('bob', 'for bob')
    for (const ann of anns) {
      await until(() => ann.ofType('direct').length === 2, 'both messages')
      t.same(ann.ofType('direct').map((frame) => frame.data), ['decorator', 'route'])
    }
    await bobB.waitFor('direct')
    t.same(bobB.ofType('direct').map((frame) => frame.data), ['for bob'], 'bob got his own only')
    await t.rejects(a.sendToUser('', 1), { code: 'FRT_INVALID_ARGUMENT' })
  })

  await t.test('subscribeUser / unsubscribeUser: the user\'s sockets on both nodes', async (t) => {
    const of = (client: RecordingClient, type: string, channel: string): Frame[] => client.ofType(type).filter((frame) => frame.channel === channel)
    await a.subscribeUser('ann', 'room:2')
    for (const ann of anns) await until(() => of(ann, 'subscribed', 'room:2').length === 1, 'subscribed by the decorator')
    t.equal((await http('DELETE', '/users/ann/subscriptions/room:2')).status, 202)
    for (const ann of anns) await until(() => of(ann, 'unsubscribed', 'room:2').length === 1, 'unsubscribed by the route')
    t.equal((await http('POST', '/users/ann/subscriptions', { channel: 'room:3' })).status, 202)
    for (const ann of anns) await until(() => of(ann, 'subscribed', 'room:3').length === 1, 'subscribed by the route')
    await a.publish('room:3', 'in room 3')
    for (const ann of anns) await until(() => pubs(ann, 'room:3').includes('in room 3'), 'a publication on the new subscription')
    await a.unsubscribeUser('ann', 'room:3')
    for (const ann of anns) await until(() => of(ann, 'unsubscribed', 'room:3').length === 1, 'unsubscribed by the decorator')
    await t.rejects(a.subscribeUser('ann', 'nowhere'), { code: 'FRT_UNKNOWN_CHANNEL' })
    t.match(await http('POST', '/users/ann/subscriptions', { channel: 'nowhere' }), { status: 404, body: { code: 'FRT_UNKNOWN_CHANNEL' } })
    await t.rejects(a.unsubscribeUser('ann', 'nowhere'), { code: 'FRT_UNKNOWN_CHANNEL' })
    t.match(await http('DELETE', '/users/ann/subscriptions/nowhere'), { status: 404, body: { code: 'FRT_UNKNOWN_CHANNEL' } })
    // A marker to bob, sent after all of it, arrives after anything of it that went astray.
    await a.sendToUser('bob', 'marker')
    await bobB.waitFor('direct', 2)
    t.same(bobB.ofType('subscribed').concat(bobB.ofType('unsubscribed')), [], 'bob\'s subscriptions were left alone')
  })

  await t.test('disconnect: a user\'s sockets on both nodes, or one connection on whichever node', async (t) => {
    const carl = [await open(A, 'carl'), await open(B, 'carl')]
    const dave = [await open(A, 'dave'), await open(B, 'dave')]
    const [one, two] = [await open(B), await open(B)]
    const idOf = (client: RecordingClient): string => String(client.ofType('welcome')[0]?.connId)
    await a.disconnect({ user: 'carl' }, 4502, 'banned')
    for (const client of carl) t.same(await client.closed, { code: 4502, reason: 'banned' }, 'by the decorator, on either node')
    t.equal((await http('POST', '/users/dave/disconnect', { code: 4502, reason: 'banned' })).status, 202)
    for (const client of dave) t.same(await client.closed, { code: 4502, reason: 'banned' }, 'by the route, on either node')
    await a.disconnect({ connId: idOf(one) })
    t.same(await one.closed, { code: 4500, reason: 'disconnected by the server' }, 'one connection of node B, by the decorator on A, with the default code')
    t.equal((await http('POST', `/connections/${idOf(two)}/disconnect`, {})).status, 202)
    t.same(await two.closed, { code: 4500, reason: 'disconnected by the server' }, 'and by the route')
    await t.rejects(a.disconnect({ user: 'carl' }, 3000), { code: 'FRT_INVALID_ARGUMENT' })
    t.match(await http('POST', '/users/carl/disconnect', { code: 3000 }), { status: 400 })
    for (const client of everyone) t.equal(client.socket.readyState, client.socket.OPEN, 'the others stay')
  })
})
