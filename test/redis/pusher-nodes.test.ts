/**
 * Pusher's protocol across two nodes on a real Redis (a private redis-server): presence members
 * joined and left once per user whichever node their sockets are on, client events that skip
 * their sender wherever it is, and publications crossing protocols and nodes both ways.
 */
import t from 'tap'
import { RedisAdapter } from '../../src/adapters/redis/index.js'
import { bareApp, type BareApp } from '../helpers/realtime-app.js'
import { TestRedisServer } from '../helpers/redis-server.js'
import { connect } from '../helpers/ws-client.js'
import { APP, connected, nextEvent, pusherClient, type ClientOptions, type Pusher } from '../helpers/pusher.js'

/** Resolves once `check` holds, looked at after each turn of the event loop. */
async function until (check: () => boolean): Promise<void> {
  while (!check()) await new Promise((resolve) => setImmediate(resolve))
}

interface Teardown { teardown: (fn: () => void) => void }

function client (t: Teardown, port: number, options: ClientOptions = {}): Pusher {
  const made = pusherClient(port, options)
  t.teardown(() => { made.disconnect() })
  return made
}

/** A node of the cluster: the plugin on the shared Redis, Pusher on, presence-* open to our protocol too. */
async function node (t: Teardown & Parameters<typeof bareApp>[0], url: string): Promise<BareApp> {
  return await bareApp(t, {
    pusher: { apps: [APP] },
    adapter: new RedisAdapter({ url, keyPrefix: 'pusher-nodes:', presenceSweepIntervalMs: 200 }),
    channels: [{ name: 'presence-*', presence: true }, { name: 'orders', clientPublish: true }]
  })
}

t.test('two nodes on Redis: presence once per user across nodes, client events skip their sender, publications cross protocols both ways', async (t) => {
  const redis = await TestRedisServer.start()
  t.teardown(() => redis.destroy())
  const a = await node(t, redis.url)
  const b = await node(t, redis.url)

  // Presence: alice on A, bob on B, then bob's second socket on A.
  const alice = client(t, a.port, { member: { user_id: 'alice', user_info: { name: 'Alice' } } })
  const room = alice.subscribe('presence-room')
  await nextEvent(room, 'pusher:subscription_succeeded')
  const events: string[] = []
  room.bind('pusher:member_added', (member: { id: string }) => { events.push(`added ${member.id}`) })
  room.bind('pusher:member_removed', (member: { id: string }) => { events.push(`removed ${member.id}`) })
  const added = nextEvent<{ id: string, info: unknown }>(room, 'pusher:member_added')
  const bob = pusherClient(b.port, { member: { user_id: 'bob', user_info: { name: 'Bob' } } })
  const bobRoom = bob.subscribe('presence-room')
  const bobMembers = await nextEvent<{ count: number, get: (id: string) => unknown }>(bobRoom, 'pusher:subscription_succeeded')
  t.equal(bobMembers.count, 2, 'bob, on B, sees alice, on A')
  t.same(bobMembers.get('alice'), { id: 'alice', info: { name: 'Alice' } }, 'with her info (through Redis)')
  t.same(await added, { id: 'bob', info: { name: 'Bob' } }, 'alice is told once, with bob\'s info')
  const bobOnA = pusherClient(a.port, { member: { user_id: 'bob', user_info: { name: 'Bob' } } })
  await nextEvent(bobOnA.subscribe('presence-room'), 'pusher:subscription_succeeded')

  // Our protocol on A, on the same presence channel (declared open to it here).
  const ours = await connect(`${a.ws}/ws`)
  t.teardown(() => ours.close())
  ours.socket.send(JSON.stringify({ type: 'sub', channel: 'presence-room', id: 1 }))
  await ours.waitFor('ack')

  // A client event from bob on B: alice (A) and ours (A) get it, bob's own sockets... bob on A is another socket: it gets it too.
  const atAlice = new Promise<[unknown, { user_id?: string }]>((resolve) => { room.bind('client-wave', (data: unknown, metadata: { user_id?: string }) => { resolve([data, metadata]) }) })
  const bobOwn: unknown[] = []
  bobRoom.bind('client-wave', (data: unknown) => { bobOwn.push(data) })
  bobRoom.trigger('client-wave', { from: 'bob' })
  t.same(await atAlice, [{ from: 'bob' }, { user_id: 'bob' }], 'across nodes, with the sender\'s user_id')
  const wave = await ours.waitFor('pub')
  t.match(wave[0], { type: 'pub', channel: 'presence-room', event: 'client-wave', data: { from: 'bob' } }, 'our protocol\'s client gets the client event, named')

  // The server publishes on A; everyone gets it, the sender of the client event too (it is not excluded): after it, bob's own is known absent.
  const marker = nextEvent(bobRoom, 'marker')
  await a.app.realtime.publish('presence-room', 1, { event: 'marker' })
  await marker
  t.same(bobOwn, [], 'the sender never got its own client event, though it came back through Redis to its node')
  t.same(events, ['added bob'], 'one member_added for bob, with sockets on two nodes')

  // Our protocol publishing on A reaches pusher-js on B; a publication on B reaches ours on A.
  const pusherOnB = client(t, b.port)
  const orders = pusherOnB.subscribe('orders')
  await nextEvent(orders, 'pusher:subscription_succeeded')
  ours.socket.send(JSON.stringify({ type: 'sub', channel: 'orders', id: 2 }))
  await ours.waitFor('ack', 2)
  const atB = nextEvent(orders, 'message')
  ours.socket.send(JSON.stringify({ type: 'pub', channel: 'orders', data: { from: 'ours on A' } }))
  t.same(await atB, { from: 'ours on A' }, 'ours on A → pusher-js on B')
  const socketOnB = await connected(pusherOnB)
  const excludedGot: unknown[] = []
  orders.bind('made-on-b', (data: unknown) => { excludedGot.push(data) })
  const before = ours.ofType('pub').length
  await b.app.realtime.publish('orders', { from: 'B' }, { event: 'made-on-b', except: socketOnB })
  const pubs = await ours.waitFor('pub', before + 1)
  t.match(pubs.at(-1), { channel: 'orders', event: 'made-on-b', data: { from: 'B' } }, 'B → ours on A, with its event name')
  const ordersMarker = nextEvent(orders, 'marker')
  await a.app.realtime.publish('orders', 0, { event: 'marker' })
  await ordersMarker
  t.same(excludedGot, [], 'the excluded socket (toOthers) did not get it')

  // Leaving: bob's socket on B goes, he stays (his socket on A); then that one goes: one member_removed.
  bob.disconnect()
  // Once B has seen it close, its presence removal is on its way to Redis before the marker (one connection, in order).
  await until(() => b.app.realtime.connections === 1)
  const marker2 = nextEvent(room, 'marker')
  await b.app.realtime.publish('presence-room', 2, { event: 'marker' })
  await marker2
  const removed = nextEvent<{ id: string }>(room, 'pusher:member_removed')
  bobOnA.disconnect()
  t.equal((await removed).id, 'bob')
  t.same(events, ['added bob', 'removed bob'], 'left once, when his last socket, on whichever node, went')
})
