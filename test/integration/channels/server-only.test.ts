/**
 * A `serverOnly` channel (the README's `inbox:*`): no client subscribes to it by itself, whoever
 * it is (anonymous, another user, the owner), by a `sub` frame or a `channels` list on the
 * upgrade; the server's `subscribe` option and `fastify.realtime.subscribe` still subscribe
 * connections to it, and what is published there reaches them, and only them.
 */
import t from 'tap'
import { answer, channelsApp, frame, send, TEST_CHANNELS } from '../../helpers/channels-app.js'
import { connect, sleep, type RecordingClient } from '../../helpers/ws-client.js'

const CHANNELS = [...TEST_CHANNELS, { name: 'inbox:*', historySize: 10, serverOnly: true }, { name: 'alerts:*', serverOnly: true }]

t.test('a serverOnly channel refuses every client sub; the server\'s subscriptions deliver', async (t) => {
  const { app, ws } = await channelsApp(t, {
    channels: CHANNELS,
    subscribe: (visitor) => visitor === null ? [] : [`inbox:${visitor.id}`]
  })
  const clients: RecordingClient[] = []
  t.teardown(() => { for (const client of clients) client.close() })
  const open = async (visitor?: string, query = ''): Promise<RecordingClient> => {
    const client = await connect(`${ws}${query}`, visitor === undefined ? {} : { headers: { 'x-visitor': visitor } })
    clients.push(client)
    await frame(client, (f) => f.type === 'welcome')
    return client
  }

  const alice = await open('alice')
  t.match(await frame(alice, (f) => f.type === 'subscribed' && f.channel === 'inbox:alice'), { source: 'connect' }, 'the subscribe option subscribed alice to her inbox')

  const anonymous = await open()
  send(anonymous, { type: 'sub', channel: 'inbox:alice', id: 1 })
  t.match(await answer(anonymous, 1), { type: 'error', code: 'server_only', id: 1 }, 'an anonymous sub is refused, with its request id')

  const bob = await open('bob')
  await frame(bob, (f) => f.type === 'subscribed' && f.channel === 'inbox:bob')
  send(bob, { type: 'sub', channel: 'inbox:alice', id: 'b' })
  t.match(await answer(bob, 'b'), { type: 'error', code: 'server_only', id: 'b' }, 'another user\'s sub is refused')
  send(alice, { type: 'sub', channel: 'alerts:alice', id: 'own' })
  t.match(await answer(alice, 'own'), { type: 'error', code: 'server_only', id: 'own' }, 'the owner\'s own sub is refused too: only the server subscribes')

  // The channel list of an upgrade is the client's request as well.
  const listed = await open(undefined, '?channels=inbox:alice')
  t.match(await frame(listed, (f) => f.type === 'error' && f.code === 'server_only'), { code: 'server_only' }, 'a channels list naming it is refused')

  // fastify.realtime.subscribe reaches a serverOnly channel.
  await app.realtime.subscribeUser('alice', 'alerts:alice')
  await frame(alice, (f) => f.type === 'subscribed' && f.channel === 'alerts:alice')

  await app.realtime.publish('inbox:alice', { text: 'for alice' })
  await app.realtime.publish('alerts:alice', { level: 'high' })
  t.match(await frame(alice, (f) => f.type === 'pub' && f.channel === 'inbox:alice'), { data: { text: 'for alice' } }, 'the server-side subscription delivers')
  t.match(await frame(alice, (f) => f.type === 'pub' && f.channel === 'alerts:alice'), { data: { level: 'high' } }, 'so does fastify.realtime.subscribe\'s')
  // A publication to bob's inbox after alice's: once it arrived, anything of alice's would have too.
  await app.realtime.publish('inbox:bob', { text: 'for bob' })
  await frame(bob, (f) => f.type === 'pub' && f.channel === 'inbox:bob')
  await sleep(50)
  for (const [name, client] of [['anonymous', anonymous], ['bob', bob], ['the channels list', listed]] as const) {
    t.notOk(client.frames.some((f) => f.channel === 'inbox:alice' && (f.type === 'pub' || f.type === 'ack' || f.type === 'subscribed')), `${name} got nothing of alice's inbox`)
  }
})

t.test('serverOnly cannot be combined with what only a client sub would use', async (t) => {
  const { resolveChannel } = await import('../../../src/channels/policy.js')
  t.throws(() => resolveChannel({ name: 'inbox:*', serverOnly: true, canSubscribe: () => true }, 0), { code: 'FRT_INVALID_OPTION', message: /channels\[0\]\.canSubscribe/ })
  t.throws(() => resolveChannel({ name: 'inbox:*', serverOnly: true, private: true }, 1), { code: 'FRT_INVALID_OPTION', message: /channels\[1\]\.private/ })
  t.throws(() => resolveChannel({ name: 'inbox:*', serverOnly: 'yes' }, 2), { code: 'FRT_INVALID_OPTION', message: /channels\[2\]\.serverOnly/ })
  t.equal(resolveChannel({ name: 'inbox:*' }, 3).serverOnly, false, 'off by default')
})
