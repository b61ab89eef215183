import t from 'tap'
import { MemoryAdapter } from '../../../src/index.js'
import { answer, channelsApp, frame, send } from '../../helpers/channels-app.js'
import { connect, sleep } from '../../helpers/ws-client.js'

/** A memory adapter that records which channels the node holds it subscribed to. */
class RecordingAdapter extends MemoryAdapter {
  readonly subscribed = new Set<string>()
  readonly unsubscribed: string[] = []

  override async subscribe (channel: string): Promise<void> {
    await super.subscribe(channel)
    this.subscribed.add(channel)
  }

  override async unsubscribe (channel: string): Promise<void> {
    this.subscribed.delete(channel)
    this.unsubscribed.push(channel)
    await super.unsubscribe(channel)
  }
}

t.test('every request with an id gets an ack or an error carrying that id', async (t) => {
  const { ws } = await channelsApp(t)
  const client = await connect(ws)
  t.teardown(() => client.close())

  send(client, { type: 'sub', channel: 'nowhere', id: 1 })
  t.match(await answer(client, 1), { type: 'error', code: 'unknown_channel', id: 1 })

  send(client, { type: 'sub', channel: 'feed', id: 'a' })
  const ack = await answer(client, 'a')
  t.match(ack, { type: 'ack', id: 'a', channel: 'feed', recovered: false, offset: 0 })
  t.type(ack.epoch, 'string')

  send(client, { type: 'sub', channel: 'feed', id: 2 })
  t.match(await answer(client, 2), { type: 'error', code: 'already_subscribed', id: 2 })

  send(client, { type: 'pub', channel: 'feed', data: 1, id: 3 })
  t.match(await answer(client, 3), { type: 'error', code: 'publish_forbidden', id: 3 })

  send(client, { type: 'pub', channel: 'chat', data: { text: 'hi' }, id: 4 })
  t.match(await answer(client, 4), { type: 'ack', id: 4, channel: 'chat', offset: 1 })

  send(client, { type: 'unsub', channel: 'quiet', id: 5 })
  t.match(await answer(client, 5), { type: 'error', code: 'not_subscribed', id: 5 })

  send(client, { type: 'unsub', channel: 'feed', id: 6 })
  t.same(await answer(client, 6), { type: 'ack', id: 6, channel: 'feed' })

  send(client, { type: 'sub', channel: 'bad name!', id: 7 })
  t.match(await answer(client, 7), { type: 'error', code: 'invalid_message', id: 7 })

  client.socket.send('{"type":"sub","channel":"quiet"}')
  const noId = await frame(client, (f) => f.type === 'ack' && f.channel === 'quiet')
  t.notOk('id' in noId, 'a sub without id is still acknowledged (the client needs its position), without an id')
  t.equal(client.socket.readyState, client.socket.OPEN, 'errors never close the socket')
})

t.test('channel policy: subscribe hook sees the upgrade request, async hooks, throwing hooks, patterns', async (t) => {
  const { ws } = await channelsApp(t)
  const admin = await connect(ws, { headers: { 'x-role': 'admin' } })
  const guest = await connect(ws)
  t.teardown(async () => { await admin.close(); await guest.close() })

  send(guest, { type: 'sub', channel: 'admin', id: 1 })
  t.match(await answer(guest, 1), { type: 'error', code: 'forbidden', id: 1 })
  send(admin, { type: 'sub', channel: 'admin', id: 1 })
  t.match(await answer(admin, 1), { type: 'ack', channel: 'admin' })

  send(guest, { type: 'sub', channel: 'slow-gate', id: 2 })
  t.match(await answer(guest, 2), { type: 'ack', channel: 'slow-gate' }, 'an async hook is awaited')
  send(guest, { type: 'sub', channel: 'broken-gate', id: 3 })
  t.match(await answer(guest, 3), { type: 'error', code: 'forbidden' }, 'a throwing hook refuses')

  send(guest, { type: 'sub', channel: 'room:42', id: 4 })
  t.match(await answer(guest, 4), { type: 'ack', channel: 'room:42' }, 'room:* matches room:42')
  send(guest, { type: 'pub', channel: 'room:42', data: 'hello room', id: 5 })
  t.match(await answer(guest, 5), { type: 'ack', offset: 1 })
  t.match(await frame(guest, (f) => f.type === 'pub' && f.channel === 'room:42'), { data: 'hello room', offset: 1 })
  send(guest, { type: 'sub', channel: 'roomy', id: 6 })
  t.match(await answer(guest, 6), { type: 'error', code: 'unknown_channel' }, 'the pattern is anchored')
})

t.test('onClientPublish stamps the author and refuses bad publications', async (t) => {
  const { ws } = await channelsApp(t)
  const ann = await connect(ws, { headers: { 'x-visitor': 'v-ann', 'x-name': 'Ann' } })
  t.teardown(() => ann.close())
  send(ann, { type: 'sub', channel: 'signed', id: 1 })
  await answer(ann, 1)
  send(ann, { type: 'pub', channel: 'signed', data: { text: 'hi', from: 'Mallory' }, id: 2 })
  t.match(await answer(ann, 2), { type: 'ack' })
  t.same((await frame(ann, (f) => f.type === 'pub' && f.channel === 'signed')).data, { text: 'hi', from: 'Ann' }, 'the author comes from the visitor, not the client')
  send(ann, { type: 'pub', channel: 'signed', data: { text: '   ' }, id: 3 })
  t.match(await answer(ann, 3), { type: 'error', code: 'publish_rejected', id: 3 })
})

t.test('a connection may hold at most maxSubscriptionsPerConnection subscriptions', async (t) => {
  const { ws } = await channelsApp(t, { maxSubscriptionsPerConnection: 3 })
  const client = await connect(ws)
  t.teardown(() => client.close())
  for (const [i, channel] of ['feed', 'chat', 'quiet'].entries()) {
    send(client, { type: 'sub', channel, id: i })
    t.match(await answer(client, i), { type: 'ack' })
  }
  send(client, { type: 'sub', channel: 'small', id: 9 })
  t.match(await answer(client, 9), { type: 'error', code: 'too_many_subscriptions', message: /At most 3/ })
  send(client, { type: 'unsub', channel: 'feed', id: 10 })
  await answer(client, 10)
  send(client, { type: 'sub', channel: 'small', id: 11 })
  t.match(await answer(client, 11), { type: 'ack' }, 'room again after an unsubscribe')
})

t.test('the default cap is 128', async (t) => {
  // 129 subscribes in one burst: lift the separate per-connection message rate limit (20/s, burst 40).
  const { ws } = await channelsApp(t, { messageRatePerSec: 1000, messageBurst: 1000 })
  const client = await connect(ws)
  t.teardown(() => client.close())
  for (let i = 0; i < 128; i++) send(client, { type: 'sub', channel: `room:${i}`, id: i })
  send(client, { type: 'sub', channel: 'room:128', id: 128 })
  t.match(await answer(client, 128), { type: 'error', code: 'too_many_subscriptions' })
  t.match(await answer(client, 127), { type: 'ack' })
})

t.test('server publish: fastify.realtime.publish reaches subscribers; undeclared channels throw a coded error', async (t) => {
  const { app, ws } = await channelsApp(t)
  const client = await connect(ws)
  t.teardown(() => client.close())
  send(client, { type: 'sub', channel: 'feed', id: 1 })
  await answer(client, 1)
  const publication = await app.realtime.publish('feed', { n: 1 })
  t.match(publication, { channel: 'feed', offset: 1, data: { n: 1 } })
  const pub = await frame(client, (f) => f.type === 'pub')
  t.same(Object.keys(pub).sort(), ['channel', 'data', 'epoch', 'offset', 't', 'type'])
  t.match(pub, { channel: 'feed', offset: 1, epoch: publication.epoch, data: { n: 1 }, t: publication.t })
  await t.rejects(app.realtime.publish('nowhere', 1), { code: 'FRT_UNKNOWN_CHANNEL' })
  await t.rejects(app.realtime.publish('bad name', 1), { code: 'FRT_UNKNOWN_CHANNEL' })
})

t.test('unsubscribe stops delivery; a close drops every subscription', async (t) => {
  const adapter = new RecordingAdapter()
  const { app, ws } = await channelsApp(t, { adapter })
  const client = await connect(ws)
  send(client, { type: 'sub', channel: 'feed', id: 1 })
  await answer(client, 1)
  send(client, { type: 'unsub', channel: 'feed', id: 2 })
  await answer(client, 2)
  await app.realtime.publish('feed', 'after unsub')
  const other = await connect(ws)
  t.teardown(() => other.close())
  send(other, { type: 'sub', channel: 'feed', id: 1 })
  await answer(other, 1)
  await app.realtime.publish('feed', 'second')
  await frame(other, (f) => f.type === 'pub' && f.data === 'second')
  t.equal(client.ofType('pub').length, 0, 'nothing after the unsubscribe')
  await client.close()

  // A visitor on four channels: three only it holds (two with presence), one shared with `other`.
  const leaver = await connect(ws, { headers: { 'x-visitor': 'v-leaver' } })
  const channels = ['quiet', 'chat', 'room:7', 'feed']
  for (const [i, channel] of channels.entries()) {
    send(leaver, { type: 'sub', channel, id: i })
    t.match(await answer(leaver, i), { type: 'ack', channel })
  }
  t.same([...adapter.subscribed].sort(), ['chat', 'feed', 'quiet', 'room:7'], 'the node subscribed the adapter to each channel')
  t.same(await app.realtime.presence('chat'), [{ id: 'v-leaver' }])
  t.same(await app.realtime.presence('room:7'), [{ id: 'v-leaver' }])
  await leaver.close()
  const deadline = Date.now() + 2000
  while (adapter.subscribed.size > 1 && Date.now() < deadline) await sleep(10)
  t.same([...adapter.subscribed], ['feed'], 'the close dropped every subscription: the adapter left each channel only the closed socket held')
  t.same(adapter.unsubscribed.filter((channel) => channel !== 'feed').sort(), ['chat', 'quiet', 'room:7'], 'one unsubscribe each')
  t.same(await app.realtime.presence('chat'), [], 'its presence is gone from chat')
  t.same(await app.realtime.presence('room:7'), [], 'and from room:7')
  await app.realtime.publish('feed', 'third')
  await frame(other, (f) => f.type === 'pub' && f.data === 'third')
  t.pass('the shared channel still reaches the subscriber that stayed')
})
