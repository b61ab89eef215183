/**
 * A client's `pub` with an idempotency key (`key`) publishes once per visitor and key: the resend
 * a client makes after a reconnect that lost the ack publishes nothing again and is acked with the
 * first publication's position and `duplicate: true`. Real sockets, one server.
 */
import t from 'tap'
import { answer, channelsApp, send, TEST_CHANNELS } from '../../helpers/channels-app.js'
import { connect, sleep, type RecordingClient } from '../../helpers/ws-client.js'

const as = async (ws: string, visitor: string): Promise<RecordingClient> => await connect(ws, { headers: { 'x-visitor': visitor } })

/** The `pub` frames of a channel a client received, as [offset, data]. */
const received = (client: RecordingClient, channel: string): Array<[unknown, unknown]> =>
  client.frames.filter((f) => f.type === 'pub' && f.channel === channel).map((f) => [f.offset, f.data])

t.test('a pub resent with its key after a reconnect is published once; another visitor\'s same key is not suppressed', async (t) => {
  const { ws } = await channelsApp(t)
  const watcher = await as(ws, 'watcher')
  t.teardown(() => watcher.close())
  send(watcher, { type: 'sub', channel: 'chat', id: 'w' })
  t.match(await answer(watcher, 'w'), { type: 'ack' })

  const first = await as(ws, 'ann')
  send(first, { type: 'pub', channel: 'chat', data: { text: 'once' }, key: 'k-1', id: 1 })
  const ack = await answer(first, 1)
  t.match(ack, { type: 'ack', id: 1, channel: 'chat', offset: 1 })
  t.notOk('duplicate' in ack, 'the first publish is not a duplicate')
  first.close()

  // Ann's page reconnects and resends what it had not seen acked, with the same key.
  const again = await as(ws, 'ann')
  t.teardown(() => again.close())
  send(again, { type: 'pub', channel: 'chat', data: { text: 'once' }, key: 'k-1', id: 2 })
  t.same(await answer(again, 2), { type: 'ack', id: 2, channel: 'chat', offset: 1, epoch: ack.epoch, duplicate: true })

  // Bob happens to use the same key: his publication is his own.
  const bob = await as(ws, 'bob')
  t.teardown(() => bob.close())
  send(bob, { type: 'pub', channel: 'chat', data: { text: 'mine' }, key: 'k-1', id: 3 })
  t.match(await answer(bob, 3), { type: 'ack', id: 3, offset: 2 })
  t.notOk('duplicate' in (await answer(bob, 3)), 'not a duplicate: keys are per visitor')

  // Without a key, the same data twice is two publications.
  send(bob, { type: 'pub', channel: 'chat', data: { text: 'mine' }, id: 4 })
  t.match(await answer(bob, 4), { type: 'ack', id: 4, offset: 3 })

  await sleep(100)
  t.same(received(watcher, 'chat'), [[1, { text: 'once' }], [2, { text: 'mine' }], [3, { text: 'mine' }]], 'subscribers saw each publication once')
})

t.test('a pub key reused for other data is refused with idempotency_key_reused and its id; the same data stays a duplicate', async (t) => {
  let stamps = 0
  const { ws } = await channelsApp(t, { channels: [...TEST_CHANNELS, { name: 'stamped', clientPublish: true, onClientPublish: (_context, data) => ({ data, stamp: ++stamps }) }] })
  const watcher = await as(ws, 'watcher')
  t.teardown(() => watcher.close())
  send(watcher, { type: 'sub', channel: 'chat', id: 'w' })
  t.match(await answer(watcher, 'w'), { type: 'ack' })
  const ann = await as(ws, 'ann')
  t.teardown(() => ann.close())
  send(ann, { type: 'pub', channel: 'chat', data: { text: 'first' }, key: 'k-9', id: 1 })
  const ack = await answer(ann, 1)
  t.match(ack, { type: 'ack', id: 1, offset: 1 })

  send(ann, { type: 'pub', channel: 'chat', data: { text: 'second' }, key: 'k-9', id: 2 })
  t.match(await answer(ann, 2), { type: 'error', id: 2, code: 'idempotency_key_reused', message: /already used for a different publication/ }, 'other data under the key: a coded error with the request id')

  send(ann, { type: 'pub', channel: 'chat', data: { text: 'first' }, key: 'k-9', id: 3 })
  t.same(await answer(ann, 3), { type: 'ack', id: 3, channel: 'chat', offset: 1, epoch: ack.epoch, duplicate: true }, 'the same data is still the duplicate, with the first position')

  // The key is bound to what the client sent: a hook that stamps each publication differently
  // does not turn a genuine resend into a conflict.
  send(ann, { type: 'pub', channel: 'stamped', data: { text: 'hello' }, key: 's-1', id: 4 })
  const stamped = await answer(ann, 4)
  send(ann, { type: 'pub', channel: 'stamped', data: { text: 'hello' }, key: 's-1', id: 5 })
  t.match(await answer(ann, 5), { type: 'ack', id: 5, offset: stamped.offset, duplicate: true }, 'a resend through a stamping hook is the duplicate')
  t.equal(stamps, 2, 'the hook ran for both (it decides before the key is checked)')

  await sleep(100)
  t.same(received(watcher, 'chat'), [[1, { text: 'first' }]], 'subscribers saw the first publication once, and nothing of the refused one')
})

t.test('a key is remembered for idempotencyTtlMs, then the same key publishes again', async (t) => {
  const { ws } = await channelsApp(t, { idempotencyTtlMs: 1000 })
  const ann = await as(ws, 'ann')
  t.teardown(() => ann.close())
  send(ann, { type: 'pub', channel: 'chat', data: 'a', key: 'k', id: 1 })
  t.match(await answer(ann, 1), { offset: 1 })
  send(ann, { type: 'pub', channel: 'chat', data: 'a', key: 'k', id: 2 })
  t.match(await answer(ann, 2), { offset: 1, duplicate: true })
  await sleep(1300)
  send(ann, { type: 'pub', channel: 'chat', data: 'a', key: 'k', id: 3 })
  const late = await answer(ann, 3)
  t.match(late, { offset: 2 })
  t.notOk('duplicate' in late, 'past its time the key is forgotten')
})

t.test('a key that is not a string of 1–64 characters is refused with invalid_message, nothing published', async (t) => {
  const { ws } = await channelsApp(t)
  const ann = await as(ws, 'ann')
  t.teardown(() => ann.close())
  for (const [id, key] of [[1, ''], [2, 'k'.repeat(65)], [3, 7], [4, null]] as const) {
    send(ann, { type: 'pub', channel: 'chat', data: 'x', key, id })
    t.match(await answer(ann, id), { type: 'error', code: 'invalid_message', id, message: /key/ }, `key ${JSON.stringify(key)}`)
  }
  send(ann, { type: 'pub', channel: 'chat', data: 'x', key: 'k'.repeat(64), id: 5 })
  t.match(await answer(ann, 5), { type: 'ack', offset: 1 }, 'the first publication is the first one accepted')
})
