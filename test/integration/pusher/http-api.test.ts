/**
 * Pusher's HTTP API driven by the real `pusher` server SDK (which signs every request itself)
 * against a listening node: every route, events reaching our own protocol's subscribers with
 * their event name, `socket_id` exclusion (Laravel's `toOthers()`), the counts of `info`, the
 * apps' separate namespaces, and Pusher's own bounds (100 channels, 10 events a batch, 10 KB of
 * data).
 */
import t from 'tap'
import type { Frame } from '../../helpers/ws-client.js'
import { APP, OTHER_APP, postJson, pusherNode, sdk, send, signedQuery, statusOf, subscriber } from '../../helpers/pusher-http.js'

const json = async (response: { json: () => Promise<unknown> }): Promise<unknown> => await response.json()
const pubs = (frames: Frame[]): unknown[] => frames.filter((frame) => frame.type === 'pub').map((frame) => frame.data)

t.test('trigger reaches subscribers of every channel named, with its event name, and answers the counts asked for', async (t) => {
  const { app, ws, port } = await pusherNode(t)
  const a = await subscriber(ws, ['orders', 'presence-room'], 'alice')
  const b = await subscriber(ws, ['orders'], 'bob')
  const pusher = sdk(port)

  const answer = await json(await pusher.trigger(['orders', 'presence-room'], 'order-placed', { id: 7 }, { info: 'subscription_count,user_count' }))
  t.same(answer, { channels: { orders: { subscription_count: 2 }, 'presence-room': { subscription_count: 1, user_count: 1 } } }, 'info: subscriptions on every channel, users on the presence one')
  await a.client.waitFor('pub', 2)
  await b.client.waitFor('pub', 1)
  t.same(pubs(a.client.frames), ['{"id":7}', '{"id":7}'], 'the data arrives as the SDK sent it: a JSON string')
  const kept = await app.realtime.history('orders')
  t.equal(kept.publications[0]?.event, 'order-placed', 'the publication carries its event name')

  t.same(await json(await pusher.trigger('orders', 'plain', 'text')), {}, 'without info, an empty answer')
  await b.client.waitFor('pub', 2)
  t.same(pubs(b.client.frames), ['{"id":7}', 'text'], 'a string is sent as it is')
})

t.test('socket_id skips exactly that socket (toOthers), and it still gets what follows, without a gap', async (t) => {
  const { ws, port } = await pusherNode(t)
  const sender = await subscriber(ws, ['chat'])
  const other = await subscriber(ws, ['chat'])
  const pusher = sdk(port)

  // The SDK refuses anything but a Pusher socket id; our own protocol's sockets have ids of their own form, which the API takes too.
  await postJson(pusher, '/events', { name: 'message', data: 'not to the sender', channels: ['chat'], socket_id: sender.connId })
  await pusher.trigger('chat', 'message', 'to everyone')
  await other.client.waitFor('pub', 2)
  await sender.client.waitFor('pub', 1)
  t.same(pubs(other.client.frames), ['not to the sender', 'to everyone'])
  t.same(pubs(sender.client.frames), ['to everyone'], 'the excluded socket skipped the one event only')
  const [first, second] = other.client.ofType('pub')
  t.equal(Number(second?.offset) - Number(first?.offset), 1, 'offsets are consecutive')
  t.equal(sender.client.ofType('pub')[0]?.offset, second?.offset, 'the excluded socket is at the same position')

  const answer = await pusher.trigger('chat', 'message', 'with a Pusher socket id', { socket_id: '123.456' })
  t.equal(answer.status, 200, 'a Pusher socket id (no such socket here) is accepted')
  await sender.client.waitFor('pub', 2)
  await pusher.triggerBatch([{ channel: 'chat', name: 'message', data: 'batch, not to the sender', socket_id: sender.connId }, { channel: 'chat', name: 'message', data: 'batch, to everyone' }])
  await other.client.waitFor('pub', 5)
  await sender.client.waitFor('pub', 3)
  t.same(pubs(sender.client.frames).slice(2), ['batch, to everyone'], 'a batch event skips its socket too')
})

t.test('batch_events publishes in order and answers per event; over 10 events is refused', async (t) => {
  const { ws, port } = await pusherNode(t)
  const a = await subscriber(ws, ['news', 'presence-lobby'], 'carol')
  const pusher = sdk(port)
  const answer = await json(await pusher.triggerBatch([
    { channel: 'news', name: 'one', data: '1' },
    { channel: 'presence-lobby', name: 'two', data: '2', info: 'user_count' },
    { channel: 'news', name: 'three', data: { n: 3 } }
  ]))
  t.same(answer, { batch: [{}, { user_count: 1 }, {}] })
  await a.client.waitFor('pub', 3)
  t.same(pubs(a.client.frames), ['1', '2', '{"n":3}'], 'in order')
  const eleven = Array.from({ length: 11 }, (_, n) => ({ channel: 'news', name: 'n', data: String(n) }))
  t.equal(await statusOf(pusher.triggerBatch(eleven)), 400, 'an eleventh event is refused')
  t.equal(await statusOf(postJson(pusher, '/events', { name: 'n', data: 'x', channels: Array.from({ length: 101 }, (_, n) => `c${n}`) })), 400, 'a 101st channel is refused')
  t.equal(a.client.ofType('pub').length, 3, 'neither published anything')
})

t.test('the data limit: 10 KB by default (413 past it), the app\'s own when set', async (t) => {
  const { port } = await pusherNode(t)
  const pusher = sdk(port)
  t.equal((await pusher.trigger('big', 'e', 'x'.repeat(10 * 1024))).status, 200, 'exactly 10 KB')
  t.equal(await statusOf(pusher.trigger('big', 'e', 'x'.repeat(10 * 1024 + 1))), 413, 'one byte more')
  t.equal(await statusOf(pusher.triggerBatch([{ channel: 'big', name: 'e', data: 'ok' }, { channel: 'big', name: 'e', data: 'é'.repeat(5 * 1024 + 1) }])), 413, 'in a batch, counted in bytes')

  const { port: port2 } = await pusherNode(t, { apps: [{ ...APP, maxEventDataBytes: 100 }] })
  t.equal(await statusOf(sdk(port2).trigger('big', 'e', 'x'.repeat(101))), 413, 'the app\'s own limit')
})

t.test('channels, one channel and its users, across the app\'s namespace', async (t) => {
  const { ws, port } = await pusherNode(t)
  await subscriber(ws, ['presence-room', 'orders'], 'alice')
  await subscriber(ws, ['presence-room'], 'alice')
  await subscriber(ws, ['presence-room', 'presence-other'], 'bob')
  await subscriber(ws, ['1002/orders'])
  const pusher = sdk(port)

  t.same(await json(await pusher.get({ path: '/channels' })), { channels: { orders: {}, 'presence-other': {}, 'presence-room': {} } }, 'every occupied channel of the app')
  t.same(await json(await pusher.get({ path: '/channels', params: { filter_by_prefix: 'presence-', info: 'user_count' } })), { channels: { 'presence-other': { user_count: 1 }, 'presence-room': { user_count: 2 } } }, 'by prefix, with user counts')
  t.equal(await statusOf(pusher.get({ path: '/channels', params: { info: 'user_count' } })), 400, 'user_count without the presence- prefix is refused')
  t.same(await json(await pusher.get({ path: '/channels', params: { filter_by_prefix: 'presence-r', info: 'subscription_count,user_count' } })), { channels: { 'presence-room': { subscription_count: 3, user_count: 2 } } }, 'with subscription counts too')
  t.same(await json(await pusher.get({ path: '/channels/presence-room', params: { info: 'user_count,subscription_count' } })), { occupied: true, user_count: 2, subscription_count: 3 })
  t.same(await json(await pusher.get({ path: '/channels/empty' })), { occupied: false })
  t.equal(await statusOf(pusher.get({ path: '/channels/orders', params: { info: 'user_count' } })), 400, 'user_count of a channel that is not presence')
  t.same(await json(await pusher.get({ path: '/channels/presence-room/users' })), { users: [{ id: 'alice' }, { id: 'bob' }] })
  t.equal(await statusOf(pusher.get({ path: '/channels/orders/users' })), 400, 'users of a channel that is not presence')

  const other = sdk(port, OTHER_APP)
  t.same(await json(await other.get({ path: '/channels' })), { channels: { orders: {} } }, 'the second app sees its own channels only')
  t.same(await json(await other.get({ path: '/channels/orders', params: { info: 'subscription_count' } })), { occupied: true, subscription_count: 1 })
})

t.test('each app publishes in its own namespace', async (t) => {
  const { ws, port } = await pusherNode(t)
  const first = await subscriber(ws, ['orders'])
  const second = await subscriber(ws, ['1002/orders'])
  await sdk(port, OTHER_APP).trigger('orders', 'e', 'for the second app')
  await sdk(port).trigger('orders', 'e', 'for the first app')
  await second.client.waitFor('pub', 1)
  await first.client.waitFor('pub', 1)
  t.same(pubs(second.client.frames), ['for the second app'])
  t.same(pubs(first.client.frames), ['for the first app'])
})

t.test('terminate_connections closes every connection of the user, and only theirs', async (t) => {
  const { ws, http, port } = await pusherNode(t)
  const one = await subscriber(ws, [], 'mallory')
  const two = await subscriber(ws, [], 'mallory')
  const bystander = await subscriber(ws, [], 'trent')
  t.same(await json(await sdk(port).terminateUserConnections('mallory')), {})
  const [a, b] = await Promise.all([one.client.closed, two.client.closed])
  t.equal(a.code, 4500, 'closed, told not to reconnect')
  t.equal(b.code, 4500)
  t.equal(bystander.client.closeCode, null, 'another user stays')

  const again = await subscriber(ws, [], 'mallory')
  const query = signedQuery(sdk(port), { method: 'POST', path: '/apps/1001/users/mallory/terminate_connections' })
  t.equal((await send(`${http}/apps/1001/users/mallory/terminate_connections?${query}`, 'POST')).status, 200, 'no body at all is taken too')
  t.equal((await again.client.closed).code, 4500)
  const withField = JSON.stringify({ reason: 'x' })
  const signed = signedQuery(sdk(port), { method: 'POST', path: '/apps/1001/users/mallory/terminate_connections', body: withField })
  t.equal((await send(`${http}/apps/1001/users/mallory/terminate_connections?${signed}`, 'POST', withField)).status, 400, 'a body with fields is refused')
})

t.test('a channel no declaration matches takes Pusher\'s rules; a name that cannot be one of ours refuses the whole event, and nothing of it is published', async (t) => {
  const { ws, port } = await pusherNode(t, {}, { channels: [{ name: 'orders' }] })
  const watcher = await subscriber(ws, ['orders'])
  const pusher = sdk(port)
  // Pusher allows 164 characters; inside, a channel name has at most 128.
  t.equal(await statusOf(pusher.trigger(['orders', 'x'.repeat(150)], 'e', 'x')), 400, 'a name too long to be one of ours refuses the event')
  t.equal(await statusOf(pusher.trigger(['orders', 'undeclared'], 'e', 'to both')), 200, 'an undeclared public name is taken, with Pusher\'s rules')
  await pusher.trigger('orders', 'e', 'declared')
  await watcher.client.waitFor('pub', 2)
  t.same(pubs(watcher.client.frames), ['to both', 'declared'], 'the refused event reached nobody, not even the declared channel')
})

t.test('the routes are in no OpenAPI document: neither ours nor one the application registers', async (t) => {
  const { default: fastifySwagger } = await import('@fastify/swagger')
  const { app, http } = await pusherNode(t, {}, { api: { prefix: '/api', keys: [{ key: 'k'.repeat(32) }] } }, (app) => { app.register(fastifySwagger, { openapi: { info: { title: 'the app', version: '1' } } }) })
  const ours = await json(await fetch(`${http}/api/openapi.json`)) as { paths: Record<string, unknown> }
  t.ok(Object.keys(ours.paths).includes('/api/publish'), 'our document lists our API')
  t.same(Object.keys(ours.paths).filter((path) => path.includes('/apps/')), [], 'and none of Pusher\'s routes')
  const theApps = app.swagger() as { paths?: Record<string, unknown> }
  t.same(Object.keys(theApps.paths ?? {}).filter((path) => path.includes('/apps/')), [], 'nor does the application\'s own')
})

t.test('the API\'s raw-body JSON parser stays in its scope: the application\'s and our API\'s JSON routes parse as before', async (t) => {
  const { http } = await pusherNode(t, {}, { api: { prefix: '/api', keys: [{ key: 'k'.repeat(32) }] } }, (app) => {
    app.post('/echo', async (request) => ({ got: request.body }))
  })
  const echo = await fetch(`${http}/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}' })
  t.same(await json(echo), { got: { a: 1 } }, 'the application\'s route gets the parsed body')
  const published = await fetch(`${http}/api/publish`, { method: 'POST', headers: { authorization: `Bearer ${'k'.repeat(32)}`, 'content-type': 'application/json' }, body: '{"channel":"orders","data":1}' })
  t.equal(published.status, 200, 'our HTTP API too')
})
