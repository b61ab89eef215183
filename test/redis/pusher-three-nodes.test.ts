/**
 * Three nodes on one private Redis, with the real clients: pusher-js (its Node build) on every
 * node, our protocol's sockets on every node, the real `pusher` server SDK calling a different
 * node each time, and a webhook receiver that verifies every POST with the SDK's
 * `webhook().isValid()`. Proves the three-node promises: presence members and the
 * channel/member webhooks once across the nodes; a publication through the Pusher HTTP API
 * reaches our protocol's subscribers on every node and one of ours reaches pusher-js on every
 * node; a Laravel-style `toOthers()` (`socket_id`) skips exactly that one socket, on whichever
 * node it is, while every other socket, of both protocols, gets the event.
 */
import t from 'tap'
import { RedisAdapter } from '../../src/adapters/redis/index.js'
import { APP, connected, nextEvent, pusherClient, type ClientOptions, type Pusher } from '../helpers/pusher.js'
import { sdk, verifiedWebhookEvents, webhookReceiver } from '../helpers/pusher-http.js'
import { bareApp, type BareApp } from '../helpers/realtime-app.js'
import { TestRedisServer } from '../helpers/redis-server.js'
import { connect, type RecordingClient } from '../helpers/ws-client.js'

/** pusher-js's members of a presence channel, as its subscription_succeeded hands them. */
interface Members { count: number, each: (fn: (member: { id: string, info: unknown }) => void) => void }

/** Something a pusher-js client got on a channel: the event's name and data. */
interface Got { event: string, data: unknown }

t.test('three nodes on Redis: presence and webhooks once, HTTP API ↔ our protocol, toOthers skips exactly one socket on whichever node', async (t) => {
  const redis = await TestRedisServer.start()
  t.teardown(() => redis.destroy())
  const receiver = await webhookReceiver(t, 10_000)
  const node = async (): Promise<BareApp> => await bareApp(t, {
    adapter: new RedisAdapter({ url: redis.url, keyPrefix: 'pusher-three:', presenceSweepIntervalMs: 200 }),
    channels: [{ name: 'presence-*', presence: true }, { name: 'orders', clientPublish: true }],
    pusher: { apps: [{ ...APP, webhooks: [{ url: receiver.url }] }], webhookDebounceMs: 100 }
  })
  const nodes = [await node(), await node(), await node()]
  const [A, B, C] = nodes as [BareApp, BareApp, BareApp]
  const verifier = sdk(A.port, APP)

  /** The webhooks so far, each verified by the SDK, as sorted `name channel [user]` lines. */
  const webhooks = (): string[] => verifiedWebhookEvents(verifier, receiver.got)
  const webhooksFor = async (count: number): Promise<void> => { await receiver.waitFor(count) }

  // pusher-js clients: alice on A, bob on B and again on C, carol on C; each on presence-room and orders.
  const clients: Array<{ name: string, node: string, pusher: Pusher, got: Got[] }> = []
  const join = async (name: string, at: BareApp, nodeName: string, options: ClientOptions): Promise<{ pusher: Pusher, room: ReturnType<Pusher['subscribe']>, members: Members }> => {
    const pusher = pusherClient(at.port, options)
    t.teardown(() => { pusher.disconnect() })
    const got: Got[] = []
    clients.push({ name, node: nodeName, pusher, got })
    const orders = pusher.subscribe('orders')
    orders.bind_global((event: string, data: unknown) => { if (!event.startsWith('pusher:')) got.push({ event, data }) })
    const room = pusher.subscribe('presence-room')
    const [, members] = await Promise.all([nextEvent(orders, 'pusher:subscription_succeeded'), nextEvent<Members>(room, 'pusher:subscription_succeeded')])
    return { pusher, room, members }
  }
  const member = (id: string): ClientOptions => ({ member: { user_id: id, user_info: { name: id } } })
  const alice = await join('alice', A, 'A', member('alice'))
  const seen: string[] = []
  alice.room.bind('pusher:member_added', ({ id }: { id: string }) => { seen.push(`added ${id}`) })
  alice.room.bind('pusher:member_removed', ({ id }: { id: string }) => { seen.push(`removed ${id}`) })
  const bobOnB = await join('bob on B', B, 'B', member('bob'))
  const bobOnC = await join('bob on C', C, 'C', member('bob'))
  const carol = await join('carol', C, 'C', member('carol'))
  const carolMembers = carol.members
  const listed: string[] = []
  carolMembers.each(({ id }) => { listed.push(id) })
  t.same({ count: carolMembers.count, ids: listed.sort() }, { count: 3, ids: ['alice', 'bob', 'carol'] }, 'carol, on C, sees the three users of three nodes, bob once for his two sockets')
  t.equal(alice.pusher.connection.state, 'connected')

  // Our protocol on each node, on orders.
  const ours: Array<{ node: string, client: RecordingClient }> = []
  for (const [index, at] of nodes.entries()) {
    const client = await connect(`${at.ws}/ws`)
    t.teardown(() => client.close())
    client.socket.send(JSON.stringify({ type: 'sub', channel: 'orders', id: 's' }))
    await client.waitFor('ack')
    ours.push({ node: 'ABC'[index] ?? '?', client })
  }

  await webhooksFor(5)
  t.same(webhooks(), ['channel_occupied orders', 'channel_occupied presence-room', 'member_added presence-room alice', 'member_added presence-room bob', 'member_added presence-room carol'], 'occupied once per channel, member_added once per user (bob has sockets on two nodes), each verified by the SDK')

  /** Resolves once every one of `who` has got `count` events on orders. */
  const everyoneGot = async (who: typeof clients, count: number): Promise<void> => {
    const started = Date.now()
    while (who.some((client) => client.got.length < count)) {
      if (Date.now() - started > 10_000) throw new Error(`not every client got ${count} events: ${JSON.stringify(who.map((client) => [client.name, client.got.length]))}`)
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
  }

  // The Pusher HTTP API, through node B: our protocol's subscribers on A, B and C get it, and every pusher-js client.
  t.equal((await sdk(B.port, APP).trigger('orders', 'placed', { id: 1 })).status, 200, 'the SDK\'s request was accepted')
  for (const { node, client } of ours) {
    const [pub] = await client.waitFor('pub')
    t.match(pub, { channel: 'orders', event: 'placed', data: '{"id":1}' }, `the SDK's event (sent to B) reached our protocol's subscriber on ${node}`)
  }
  await everyoneGot(clients, 1)

  // Our protocol on C publishes: every pusher-js client, on every node, gets it.
  ours[2]?.client.socket.send(JSON.stringify({ type: 'pub', channel: 'orders', data: { from: 'ours on C' } }))
  await everyoneGot(clients, 2)
  t.same(clients.map((client) => client.got[1]), clients.map(() => ({ event: 'message', data: { from: 'ours on C' } })), 'our protocol\'s publication on C reached pusher-js on A, B and C')
  for (const { client } of ours) await client.waitFor('pub', 2)

  // toOthers: for a socket on each node in turn, the SDK (through the next node) triggers with its
  // socket_id. Exactly that socket misses the event; every other socket, of both protocols, gets it.
  const turns = [{ excluded: 'alice', via: B }, { excluded: 'bob on B', via: C }, { excluded: 'carol', via: A }]
  for (const [round, { excluded, via }] of turns.entries()) {
    const target = clients.find((client) => client.name === excluded)
    if (target === undefined) throw new Error(`no client ${excluded}`)
    const socketId = await connected(target.pusher)
    const before = clients.map((client) => client.got.length)
    t.equal((await sdk(via.port, APP).trigger('orders', 'to-others', { round }, { socket_id: socketId })).status, 200, 'the SDK\'s request was accepted')
    // A marker after it, on the same channel through the same node: once everyone has the marker,
    // the excluded socket would have had the event before it.
    t.equal((await sdk(via.port, APP).trigger('orders', 'marker', { round })).status, 200, 'the SDK\'s request was accepted')
    const others = clients.filter((client) => client !== target)
    const started = Date.now()
    while (clients.some((client, index) => client.got.length < (before[index] ?? 0) + (client === target ? 1 : 2))) {
      if (Date.now() - started > 10_000) throw new Error(`round ${round}: ${JSON.stringify(clients.map((client) => [client.name, client.got.slice(before[clients.indexOf(client)])]))}`)
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
    t.same(target.got.slice(before[clients.indexOf(target)]), [{ event: 'marker', data: { round } }], `${excluded} (on ${target.node}) was skipped, though the SDK called node ${nodes.indexOf(via) === 0 ? 'A' : nodes.indexOf(via) === 1 ? 'B' : 'C'}`)
    for (const other of others) {
      t.same(other.got.slice(before[clients.indexOf(other)]), [{ event: 'to-others', data: { round } }, { event: 'marker', data: { round } }], `${other.name} (on ${other.node}) got it`)
    }
    for (const { node, client } of ours) {
      const pubs = await client.waitFor('pub', 2 + 2 * (round + 1))
      t.match(pubs.slice(-2), [{ event: 'to-others', data: JSON.stringify({ round }) }, { event: 'marker' }], `our protocol's subscriber on ${node} got it`)
    }
  }

  // Leaving: carol (C) goes; bob's socket on B goes while his socket on C stays; then that one goes.
  const carolRemoved = nextEvent<{ id: string }>(alice.room, 'pusher:member_removed')
  carol.pusher.disconnect()
  t.equal((await carolRemoved).id, 'carol')
  bobOnB.pusher.disconnect()
  // Once B has seen it close, its presence removal is on its way before B's marker (one connection, in order).
  while (B.app.realtime.connections !== 1) await new Promise((resolve) => setImmediate(resolve))
  const marker = nextEvent(alice.room, 'leave-marker')
  await B.app.realtime.publish('presence-room', 0, { event: 'leave-marker' })
  await marker
  t.same(seen, ['added bob', 'added carol', 'removed carol'], 'bob stays while his socket on C is there')
  const bobRemoved = nextEvent<{ id: string }>(alice.room, 'pusher:member_removed')
  bobOnC.pusher.disconnect()
  t.equal((await bobRemoved).id, 'bob')
  t.same(seen, ['added bob', 'added carol', 'removed carol', 'removed bob'], 'each member added and removed once, as alice on A saw it')

  // Everyone leaves: member_removed for each user and a vacate for each channel, once each.
  alice.pusher.disconnect()
  for (const { client } of ours) await client.close()
  await webhooksFor(10)
  t.same(webhooks(), [
    'channel_occupied orders', 'channel_occupied presence-room',
    'channel_vacated orders', 'channel_vacated presence-room',
    'member_added presence-room alice', 'member_added presence-room bob', 'member_added presence-room carol',
    'member_removed presence-room alice', 'member_removed presence-room bob', 'member_removed presence-room carol'
  ], 'every channel and member webhook exactly once across the three nodes, each verified by the SDK')
  // A late duplicate would come on the heels of its original: a fresh channel's occupied webhook,
  // sent after them, is the last one.
  const last = await connect(`${C.ws}/ws`)
  t.teardown(() => last.close())
  last.socket.send(JSON.stringify({ type: 'sub', channel: 'orders', id: 'last' }))
  await last.waitFor('ack')
  await webhooksFor(11)
  t.equal(receiver.got.length, 11, 'nothing more came')
  t.equal(webhooks().filter((line) => line === 'channel_occupied orders').length, 2, 'the last one is orders occupied again')
})
