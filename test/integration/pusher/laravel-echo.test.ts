/**
 * Laravel Echo (unmodified, in Node) over pusher-js against a node of ours: what a Laravel app's
 * front end does with it: listen on a public channel, whisper on a private one, and here /
 * joining / leaving on a presence channel, with the member info objects `here()` gets.
 */
import Echo from 'laravel-echo'
import t from 'tap'
import { bareApp } from '../../helpers/realtime-app.js'
import { APP, pusherClient, type ClientOptions } from '../../helpers/pusher.js'

interface Teardown { teardown: (fn: () => void) => void }

/** An Echo over a pusher-js client of the node (Echo's `client` option), disconnected on teardown. */
function echo (t: Teardown, port: number, options: ClientOptions = {}): Echo<'pusher'> {
  const made = new Echo({ broadcaster: 'pusher', key: APP.key, cluster: 'local', client: pusherClient(port, options) })
  t.teardown(() => { made.disconnect() })
  return made
}

/** Resolves with the first argument `register` hands its callback. */
async function first<T> (register: (callback: (value: T) => void) => unknown): Promise<T> {
  return await new Promise((resolve) => { register(resolve) })
}

t.test('listen on a public channel: the event a Laravel app broadcasts (its name with a leading dot)', async (t) => {
  const { app, port } = await bareApp(t, { pusher: { apps: [APP] } })
  const client = echo(t, port)
  const channel = client.channel('orders')
  await first((done) => channel.subscribed(() => { done(undefined) }))
  const got = first<unknown>((done) => channel.listen('.OrderShipped', done))
  await app.realtime.publish('orders', { order: { id: 3 } }, { event: 'OrderShipped' })
  t.same(await got, { order: { id: 3 } })
  const namespaced = first<unknown>((done) => channel.listen('OrderPaid', done))
  await app.realtime.publish('orders', { paid: true }, { event: 'App\\Events\\OrderPaid' })
  t.same(await namespaced, { paid: true }, 'and under Echo\'s App\\Events namespace')
})

t.test('whisper on a private channel reaches the others, not the sender', async (t) => {
  const { port } = await bareApp(t, { pusher: { apps: [APP] } })
  const alice = echo(t, port)
  const bob = echo(t, port)
  const a = alice.private('chat')
  const b = bob.private('chat')
  await Promise.all([first((done) => a.subscribed(() => { done(undefined) })), first((done) => b.subscribed(() => { done(undefined) }))])
  const own: unknown[] = []
  a.listenForWhisper('typing', (data: unknown) => { own.push(data) })
  const atBob = first<unknown>((done) => b.listenForWhisper('typing', done))
  a.whisper('typing', { name: 'alice' })
  t.same(await atBob, { name: 'alice' })
  const back = first<unknown>((done) => a.listenForWhisper('seen', done))
  b.whisper('seen', {})
  await back
  t.same(own, [], 'the sender did not get its own whisper')
})

t.test('join a presence channel: here() with the members\' info, joining and leaving', async (t) => {
  const { port } = await bareApp(t, { pusher: { apps: [APP] } })
  const alice = echo(t, port, { member: { user_id: '1', user_info: { name: 'Alice' } } })
  const room = alice.join('room')
  const here = await first<unknown[]>((done) => room.here(done))
  t.same(here, [{ name: 'Alice' }], 'here() gets the member info objects')
  const joining = first<unknown>((done) => room.joining(done))
  const bob = new Echo({ broadcaster: 'pusher', key: APP.key, cluster: 'local', client: pusherClient(port, { member: { user_id: '2', user_info: { name: 'Bob' } } }) })
  const bobHere = await first<unknown[]>((done) => bob.join('room').here(done))
  t.same(bobHere.length, 2, 'bob sees two')
  t.same(await joining, { name: 'Bob' }, 'alice sees bob join')
  const leaving = first<unknown>((done) => room.leaving(done))
  bob.leave('room')
  t.same(await leaving, { name: 'Bob' }, 'and leave')
  bob.disconnect()
})
