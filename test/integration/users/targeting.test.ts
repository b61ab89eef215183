/**
 * Reaching a user on one node (the memory adapter; the same control messages cross Redis in
 * test/redis/targeting-nodes.test.ts): `sendToUser` reaches every socket of the user once and
 * nobody else; `disconnect` by user or connection id; server-side `subscribe` / `unsubscribe` on
 * live sockets and at connect, with presence and order as for a client `sub`; private channels,
 * their channel tokens, and the end of a subscription at its grant's expiry.
 */
import type { FastifyRequest } from 'fastify'
import t from 'tap'
import type { Visitor } from '../../../src/index.js'
import { answer, frame, send } from '../../helpers/channels-app.js'
import { bareApp } from '../../helpers/realtime-app.js'
import { epochSec, hsToken, TEST_SECRET } from '../../helpers/tokens.js'
import { connect, sleep, type RecordingClient } from '../../helpers/ws-client.js'

const headerVisitor = (request: FastifyRequest): Visitor | null => typeof request.headers['x-visitor'] === 'string' ? { id: request.headers['x-visitor'], name: request.headers['x-visitor'].toUpperCase() } : null

async function as (ws: string, user: string | null): Promise<RecordingClient> {
  const client = await connect(`${ws}/ws`, user === null ? {} : { headers: { 'x-visitor': user } })
  await client.waitFor('welcome')
  return client
}

const directs = (client: RecordingClient): unknown[] => client.ofType('direct').map((f) => f.data)

t.test('sendToUser reaches each socket of the user once, and nobody else; disconnect by user and by connection', async (t) => {
  const { app, ws, metrics } = await bareApp(t, { identify: headerVisitor })
  const [ann1, ann2, bob, anon] = await Promise.all([as(ws, 'ann'), as(ws, 'ann'), as(ws, 'bob'), as(ws, null)])
  if (ann1 === undefined || ann2 === undefined || bob === undefined || anon === undefined) throw new Error('clients')
  t.teardown(() => { for (const c of [ann1, ann2, bob, anon]) c.socket.terminate() })
  await app.realtime.sendToUser('ann', { text: 'hi ann' })
  await app.realtime.sendToUser('ann', { text: 'again' })
  await app.realtime.sendToUser('nobody-here', { text: 'lost' })
  await ann1.waitFor('direct', 2)
  await ann2.waitFor('direct', 2)
  await sleep(100)
  t.same(directs(ann1), [{ text: 'hi ann' }, { text: 'again' }], 'ann\'s first socket: each once, in order')
  t.same(directs(ann2), [{ text: 'hi ann' }, { text: 'again' }], 'ann\'s second socket too')
  t.same(directs(bob), [], 'not bob')
  t.same(directs(anon), [], 'not an anonymous socket')
  t.type(ann1.ofType('direct')[0]?.t, 'number')

  await t.rejects(app.realtime.sendToUser('', 'x'), { code: 'FRT_INVALID_ARGUMENT' })
  await t.rejects(app.realtime.disconnect({ user: 'ann' }, 1006), { code: 'FRT_INVALID_ARGUMENT', message: /4000 to 4999/ })
  await t.rejects(app.realtime.disconnect({ connId: '' }), { code: 'FRT_INVALID_ARGUMENT' })

  const bobId = String(bob.ofType('welcome')[0]?.connId)
  await app.realtime.disconnect({ connId: bobId }, 4001, 'come back later')
  t.same(await bob.closed, { code: 4001, reason: 'come back later' }, 'one connection, by id, with the app\'s code and reason')
  await app.realtime.disconnect({ user: 'ann' })
  t.same(await ann1.closed, { code: 4500, reason: 'disconnected by the server' }, 'the default: 4500, do not reconnect')
  t.same(await ann2.closed, { code: 4500, reason: 'disconnected by the server' })
  await sleep(50)
  t.equal(anon.closeCode, null, 'the others stay')
  t.ok(metrics.closeCodes.filter((code) => code === 4500).length >= 2)
  t.equal(app.realtime.resources().users, 0, 'no user left on the node')
})

t.test('server-side subscribe/unsubscribe on live sockets: subscribed, the stream in order, presence; unsubscribed ends it', async (t) => {
  const { app, ws } = await bareApp(t, { identify: headerVisitor, channels: [{ name: 'orders:*', historySize: 100, presence: true }] })
  const [ann1, ann2, bob] = await Promise.all([as(ws, 'ann'), as(ws, 'ann'), as(ws, 'bob')])
  if (ann1 === undefined || ann2 === undefined || bob === undefined) throw new Error('clients')
  t.teardown(() => { for (const c of [ann1, ann2, bob]) c.socket.terminate() })
  await app.realtime.publish('orders:42', { n: 0 })
  await app.realtime.subscribeUser('ann', 'orders:42')
  // Published right after subscribe resolved: each of ann's sockets gets every one, in order.
  for (let n = 1; n <= 20; n++) await app.realtime.publish('orders:42', { n })
  for (const client of [ann1, ann2]) {
    const subscribed = await frame(client, (f) => f.type === 'subscribed')
    t.match(subscribed, { channel: 'orders:42', source: 'server', recovered: true }, 'recovered from the position when subscribe was called')
    await client.waitFor('pub', 20)
    t.same(client.ofType('pub').map((f) => (f.data as { n: number }).n), Array.from({ length: 20 }, (_, i) => i + 1), 'each publication once, in order, none from before')
    const snapshot = await frame(client, (f) => f.type === 'presence' && f.action === 'snapshot')
    t.same(snapshot.members, [{ id: 'ann', name: 'ANN' }], 'presence as for a client sub')
  }
  t.same(bob.ofType('subscribed'), [], 'not bob')
  // Bob subscribes himself and sees ann in presence.
  send(bob, { type: 'sub', channel: 'orders:42', id: 1 })
  await answer(bob, 1)
  t.same((await frame(bob, (f) => f.type === 'presence')).members, [{ id: 'ann', name: 'ANN' }, { id: 'bob', name: 'BOB' }], 'bob sees ann, subscribed by the server')
  // A second subscribe is a no-op for sockets already subscribed.
  await app.realtime.subscribeUser('ann', 'orders:42')
  await sleep(100)
  t.equal(ann1.ofType('subscribed').length, 1, 'already subscribed: no second frame')

  await app.realtime.unsubscribeUser('ann', 'orders:42')
  t.match(await frame(ann1, (f) => f.type === 'unsubscribed'), { channel: 'orders:42' })
  await frame(ann2, (f) => f.type === 'unsubscribed')
  t.match(await frame(bob, (f) => f.type === 'presence' && f.action === 'leave'), { member: { id: 'ann' } }, 'ann left presence')
  await app.realtime.publish('orders:42', { n: 21 })
  await bob.waitFor('pub', 1)
  await sleep(100)
  t.equal(ann1.ofType('pub').length, 20, 'nothing after unsubscribed')
  await t.rejects(app.realtime.subscribeUser('ann', 'undeclared'), { code: 'FRT_UNKNOWN_CHANNEL' })
  await t.rejects(app.realtime.unsubscribeUser('ann', 'undeclared'), { code: 'FRT_UNKNOWN_CHANNEL' })
})

t.test('subscriptions at connect (the subscribe option), for session, token and auth-frame identities', async (t) => {
  const seen: Array<{ visitor: string | null, hasRequest: boolean }> = []
  const { ws } = await bareApp(t, {
    identify: headerVisitor,
    jwtSecret: TEST_SECRET,
    channels: [{ name: 'inbox:*', historySize: 10 }, { name: 'news' }],
    subscribe: async (visitor, request) => {
      seen.push({ visitor: visitor?.id ?? null, hasRequest: request !== undefined })
      return visitor === null ? ['news'] : ['news', `inbox:${visitor.id}`, 'undeclared-one']
    }
  })
  const session = await as(ws, 'ann')
  const subscribedOf = async (client: RecordingClient, count: number): Promise<string[]> => (await client.waitFor('subscribed', count)).map((f) => `${String(f.channel)}/${String(f.source)}`).sort()
  t.same(await subscribedOf(session, 2), ['inbox:ann/connect', 'news/connect'], 'a session visitor: news and their inbox')
  const anon = await as(ws, null)
  t.same(await subscribedOf(anon, 1), ['news/connect'], 'anonymous: news')
  send(anon, { type: 'auth', token: await hsToken({ sub: 'bob', exp: epochSec(600) }), id: 'a' })
  await answer(anon, 'a')
  t.same(await subscribedOf(anon, 2), ['inbox:bob/connect', 'news/connect'], 'after authenticating: their inbox too (news is not doubled)')
  const bearer = await connect(`${ws}/ws`, { headers: { authorization: `Bearer ${await hsToken({ sub: 'cleo' })}` } })
  t.same(await subscribedOf(bearer, 2), ['inbox:cleo/connect', 'news/connect'], 'a bearer token')
  t.ok(seen.some((call) => call.visitor === 'bob' && !call.hasRequest), 'the hook runs after an auth frame, without a request')
  const welcomeAt = session.frames.findIndex((f) => f.type === 'welcome')
  t.ok(welcomeAt < session.frames.findIndex((f) => f.type === 'subscribed'), 'after the welcome')
  for (const client of [session, anon, bearer]) await client.close()
})

t.test('private channels: a sub needs a channel token for that channel and that user; canSubscribe runs too', async (t) => {
  const { ws } = await bareApp(t, {
    identify: headerVisitor,
    jwtSecret: TEST_SECRET,
    channels: [
      { name: 'dm:*', private: true, historySize: 10 },
      { name: 'vip:*', private: true, canSubscribe: ({ visitor }) => visitor?.id !== 'banned' }
    ]
  })
  const ann = await as(ws, 'ann')
  send(ann, { type: 'sub', channel: 'dm:ann-bob', id: 1 })
  t.match(await answer(ann, 1), { type: 'error', code: 'token_required' })
  send(ann, { type: 'sub', channel: 'dm:ann-bob', id: 2, token: await hsToken({ sub: 'ann', channel: 'dm:ann-cleo' }) })
  t.match(await answer(ann, 2), { code: 'token_invalid', message: /not a token for channel/ })
  send(ann, { type: 'sub', channel: 'dm:ann-bob', id: 3, token: await hsToken({ sub: 'bob', channel: 'dm:ann-bob' }) })
  t.match(await answer(ann, 3), { code: 'token_invalid', message: /another user/ })
  send(ann, { type: 'sub', channel: 'dm:ann-bob', id: 4, token: await hsToken({ sub: 'ann', channel: 'dm:ann-bob', exp: epochSec(-10) }) })
  t.match(await answer(ann, 4), { code: 'token_invalid', message: /expired/ })
  send(ann, { type: 'sub', channel: 'dm:ann-bob', id: 5, token: await hsToken({ sub: 'ann', channel: 'dm:ann-bob' }) })
  t.match(await answer(ann, 5), { type: 'ack', channel: 'dm:ann-bob' }, 'a grant for this channel and this user')
  const banned = await as(ws, 'banned')
  send(banned, { type: 'sub', channel: 'vip:1', id: 1, token: await hsToken({ sub: 'banned', channel: 'vip:1' }) })
  t.match(await answer(banned, 1), { code: 'forbidden' }, 'a valid grant and canSubscribe: both must pass')
  const anonymous = await as(ws, null)
  send(anonymous, { type: 'sub', channel: 'dm:x', id: 1, token: await hsToken({ sub: 'x', channel: 'dm:x' }) })
  t.match(await answer(anonymous, 1), { code: 'token_invalid' }, 'an anonymous socket cannot use a user\'s grant')
  for (const client of [ann, banned, anonymous]) await client.close()
})

t.test('with jwtIssuer and jwtAudience set, a channel token needs iss and aud too (as PROTOCOL.md says): without them, or wrong, it is refused', async (t) => {
  const { ws } = await bareApp(t, {
    identify: headerVisitor,
    jwtSecret: TEST_SECRET,
    jwtIssuer: 'https://auth.test',
    jwtAudience: 'realtime',
    channels: [{ name: 'dm:*', private: true }]
  })
  const ann = await as(ws, 'ann')
  const grant = { sub: 'ann', channel: 'dm:ann-bob' }
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ['no iss, no aud', grant, /wrong issuer/],
    ['no iss', { ...grant, aud: 'realtime' }, /wrong issuer/],
    ['no aud', { ...grant, iss: 'https://auth.test' }, /wrong audience/],
    ['another issuer', { ...grant, iss: 'https://evil.test', aud: 'realtime' }, /wrong issuer/],
    ['another audience', { ...grant, iss: 'https://auth.test', aud: 'elsewhere' }, /wrong audience/]
  ]
  let id = 0
  for (const [what, claims, why] of cases) {
    send(ann, { type: 'sub', channel: 'dm:ann-bob', id: ++id, token: await hsToken(claims) })
    t.match(await answer(ann, id), { type: 'error', code: 'token_invalid', message: why }, `${what}: refused`)
  }
  send(ann, { type: 'sub', channel: 'dm:ann-bob', id: ++id, token: await hsToken({ ...grant, iss: 'https://auth.test', aud: 'realtime' }) })
  t.match(await answer(ann, id), { type: 'ack', channel: 'dm:ann-bob' }, 'with both, the grant is taken')
  await ann.close()
})

t.test('a private subscription lasts as long as its grant: at exp it is ended (token_expired, presence left), and a resubscribe with since and a new grant misses nothing', async (t) => {
  const { app, ws } = await bareApp(t, {
    identify: headerVisitor,
    jwtSecret: TEST_SECRET,
    channels: [{ name: 'dm:*', private: true, historySize: 10 }, { name: 'room:*', private: true, presence: true }]
  })
  const [ann, bob] = await Promise.all([as(ws, 'ann'), as(ws, 'bob')])
  t.teardown(() => { for (const c of [ann, bob]) c.socket.terminate() })
  const exp = epochSec(2)
  send(bob, { type: 'sub', channel: 'room:1', id: 1, token: await hsToken({ sub: 'bob', channel: 'room:1' }) })
  await answer(bob, 1)
  send(ann, { type: 'sub', channel: 'dm:ann', id: 1, token: await hsToken({ sub: 'ann', channel: 'dm:ann', exp }) })
  send(ann, { type: 'sub', channel: 'room:1', id: 2, token: await hsToken({ sub: 'ann', channel: 'room:1', exp }) })
  send(ann, { type: 'sub', channel: 'dm:gone', id: 3, token: await hsToken({ sub: 'ann', channel: 'dm:gone', exp }) })
  t.match(await Promise.all([answer(ann, 1), answer(ann, 2), answer(ann, 3)]), [{ type: 'ack' }, { type: 'ack' }, { type: 'ack' }])
  send(ann, { type: 'unsub', channel: 'dm:gone', id: 4 })
  await answer(ann, 4)
  await frame(bob, (f) => f.type === 'presence' && f.action === 'join' && (f.member as { id: string }).id === 'ann')
  const first = await app.realtime.publish('dm:ann', 'before')
  await frame(ann, (f) => f.type === 'pub' && f.data === 'before')

  const ended = await frame(ann, (f) => f.type === 'unsubscribed' && f.channel === 'dm:ann', 4000)
  t.ok(Date.now() >= exp * 1000, 'not before the grant\'s exp')
  t.same(ended, { type: 'unsubscribed', channel: 'dm:ann', code: 'token_expired' })
  t.match(await frame(ann, (f) => f.type === 'unsubscribed' && f.channel === 'room:1', 1000), { code: 'token_expired' })
  t.match(await frame(bob, (f) => f.type === 'presence' && f.action === 'leave'), { member: { id: 'ann' } }, 'the subscription really ended: the others see ann leave')
  await app.realtime.publish('dm:ann', 'meanwhile')
  await sleep(200)
  t.notOk(ann.frames.some((f) => f.data === 'meanwhile'), 'nothing more arrives on it')
  t.notOk(ann.frames.some((f) => f.type === 'unsubscribed' && f.channel === 'dm:gone'), 'a subscription the client ended earlier gets no expiry')

  send(ann, { type: 'sub', channel: 'dm:ann', id: 5, since: { offset: first.offset, epoch: first.epoch }, token: await hsToken({ sub: 'ann', channel: 'dm:ann' }) })
  t.match(await answer(ann, 5), { type: 'ack', recovered: true }, 'a new grant resubscribes from where it ended')
  await frame(ann, (f) => f.type === 'pub' && f.data === 'meanwhile')
  t.equal(ann.frames.filter((f) => f.type === 'pub' && f.channel === 'dm:ann').map((f) => f.data).join(','), 'before,meanwhile', 'what was published meanwhile, once')
})
