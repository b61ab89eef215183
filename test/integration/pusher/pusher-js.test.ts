/**
 * pusher-js (its Node build, unmodified) against a node of ours speaking Pusher's protocol:
 * connection, public, private, presence, cache and encrypted channels, client events, sign-in and
 * user messages, unsubscribe/resubscribe races.
 */
import nacl from 'tweetnacl'
import t from 'tap'
import { bareApp } from '../../helpers/realtime-app.js'
import { APP, channelSharedSecret, connected, nextEvent, pusherClient, serverSdk, type ClientOptions, type Pusher } from '../../helpers/pusher.js'

const pusherOptions = { apps: [APP] }

interface Teardown { teardown: (fn: () => void) => void }

/** A client, disconnected on teardown. */
function client (t: Teardown, port: number, options: ClientOptions = {}): Pusher {
  const made = pusherClient(port, options)
  t.teardown(() => { made.disconnect() })
  return made
}

/** Resolves once `check` holds, looked at after each turn of the event loop (no fixed sleep). */
async function until (check: () => boolean | Promise<boolean>): Promise<void> {
  while (!await check()) await new Promise((resolve) => setImmediate(resolve))
}

t.test('connects: pusher:connection_established with a socket id of the form 123.456, and the activity timeout', async (t) => {
  const { port } = await bareApp(t, { pusher: { ...pusherOptions, activityTimeoutS: 33 } })
  const pusher = client(t, port)
  const socketId = await connected(pusher)
  t.match(socketId, /^\d+\.\d+$/, 'a Pusher socket id')
  t.equal(pusher.connection.activityTimeout, 33_000, 'the activity timeout the server sent')
})

t.test('a public channel: subscription_succeeded, then the server\'s publications as their events', async (t) => {
  const { app, port } = await bareApp(t, { pusher: pusherOptions })
  const pusher = client(t, port)
  const channel = pusher.subscribe('orders')
  await nextEvent(channel, 'pusher:subscription_succeeded')
  const got = nextEvent(channel, 'order-placed')
  await app.realtime.publish('orders', { id: 7 }, { event: 'order-placed' })
  t.same(await got, { id: 7 }, 'the event, its data parsed by pusher-js')
  const plain = nextEvent(channel, 'message')
  await app.realtime.publish('orders', 'text')
  t.equal(await plain, 'text', 'without an event name: the event "message"')
  // A Pusher name with = , ; (which ours escape inside) works end to end.
  const odd = pusher.subscribe('a=b,c;d')
  await nextEvent(odd, 'pusher:subscription_succeeded')
  const oddGot = nextEvent(odd, 'e')
  await app.realtime.publish('a$3db$2cc$3bd', 1, { event: 'e' })
  t.equal(await oddGot, 1, 'its inside name is the escaped one')
  const tooLong = pusher.subscribe(`${'x'.repeat(120)}${'='.repeat(10)}`)
  t.match(await nextEvent(tooLong, 'pusher:subscription_error'), { status: 400 }, 'a name longer than 128 inside is refused')
})

t.test('a private channel: signed by the SDK\'s authorizeChannel it is joined; a wrong signature gets pusher:subscription_error', async (t) => {
  const { app, port } = await bareApp(t, { pusher: pusherOptions })
  const pusher = client(t, port)
  const channel = pusher.subscribe('private-orders')
  await nextEvent(channel, 'pusher:subscription_succeeded')
  const got = nextEvent(channel, 'shipped')
  await app.realtime.publish('private-orders', { id: 1 }, { event: 'shipped' })
  t.same(await got, { id: 1 })

  const forger = client(t, port, { app: { ...APP, secret: 'not-the-secret-at-all' } })
  const refused = forger.subscribe('private-orders')
  const error = await nextEvent<{ type: string, status: number }>(refused, 'pusher:subscription_error')
  t.match(error, { type: 'AuthError', status: 401 }, 'refused as pusher-js expects')
  t.notOk(refused.subscribed, 'not subscribed')
})

t.test('a presence channel: members from the signed channel_data, join and leave once per user', async (t) => {
  const { app, port } = await bareApp(t, { pusher: pusherOptions })
  const alice = client(t, port, { member: { user_id: 'alice', user_info: { name: 'Alice' } } })
  const room = alice.subscribe('presence-room') as ReturnType<Pusher['subscribe']> & { members: { count: number, me: unknown, get: (id: string) => unknown } }
  const aliceMembers = await nextEvent<{ count: number, me: unknown }>(room, 'pusher:subscription_succeeded')
  t.equal(aliceMembers.count, 1)
  t.same(aliceMembers.me, { id: 'alice', info: { name: 'Alice' } }, 'me, with the info')
  const events: string[] = []
  room.bind('pusher:member_added', (member: { id: string }) => { events.push(`added ${member.id}`) })
  room.bind('pusher:member_removed', (member: { id: string }) => { events.push(`removed ${member.id}`) })

  const bob = pusherClient(port, { member: { user_id: 'bob', user_info: { name: 'Bob' } } })
  const added = nextEvent<{ id: string, info: unknown }>(room, 'pusher:member_added')
  const bobRoom = bob.subscribe('presence-room')
  const bobMembers = await nextEvent<{ count: number, get: (id: string) => unknown }>(bobRoom, 'pusher:subscription_succeeded')
  t.equal(bobMembers.count, 2, 'bob sees two members')
  t.same(bobMembers.get('alice'), { id: 'alice', info: { name: 'Alice' } }, 'with alice\'s info')
  t.same(await added, { id: 'bob', info: { name: 'Bob' } }, 'alice is told bob joined, with his info')

  // Bob's second socket: the same user, no second member_added.
  const bob2 = pusherClient(port, { member: { user_id: 'bob', user_info: { name: 'Bob' } } })
  await nextEvent(bob2.subscribe('presence-room'), 'pusher:subscription_succeeded')
  const marker = nextEvent(room, 'marker')
  await app.realtime.publish('presence-room', 1, { event: 'marker' })
  await marker
  t.same(events, ['added bob'], 'one member_added for bob, whatever his sockets')
  t.equal(room.members.count, 2)
  t.same((await app.realtime.presence('presence-room')).map((member) => member.id), ['alice', 'bob'], 'fastify.realtime.presence sees them')
  t.same((await app.realtime.presence('presence-room'))[0]?.info, { name: 'Alice' }, 'with their info')

  bob.disconnect()
  await until(() => app.realtime.connections === 2)
  const marker2 = nextEvent(room, 'marker')
  await app.realtime.publish('presence-room', 2, { event: 'marker' })
  await marker2
  t.same(events, ['added bob'], 'bob still has a socket: no member_removed')
  const removed = nextEvent<{ id: string }>(room, 'pusher:member_removed')
  bob2.disconnect()
  t.equal((await removed).id, 'bob', 'his last socket gone: member_removed')
  t.equal(room.members.count, 1)
})

t.test('a presence subscription signed for other channel_data (another user id) is refused', async (t) => {
  const { port } = await bareApp(t, { pusher: pusherOptions })
  const pusher = client(t, port)
  const socketId = await connected(pusher)
  const sdk = serverSdk()
  const signed = sdk.authorizeChannel(socketId, 'presence-x', { user_id: 'mallory' })
  // The same signature with other channel_data (another user id): refused.
  const forged = pusher.subscribe('private-unused')
  await nextEvent(forged, 'pusher:subscription_succeeded')
  const channel = pusher.channel('private-unused')
  t.ok(channel, 'the client works')
  pusher.send_event('pusher:subscribe', { channel: 'presence-x', auth: signed.auth, channel_data: JSON.stringify({ user_id: 'admin' }) })
  const error = await nextEvent<{ event: string, channel: string, data: { status: number } }>(pusher.connection, 'message')
  t.match(error, { event: 'pusher:subscription_error', channel: 'presence-x', data: { status: 401 } })
})

t.test('client events: to the others on the channel, never back to the sender; with user_id on presence; refused on public', async (t) => {
  const { port } = await bareApp(t, { pusher: pusherOptions })
  const alice = client(t, port, { member: { user_id: 'alice' } })
  const bob = client(t, port, { member: { user_id: 'bob' } })
  const a = alice.subscribe('presence-chat')
  const b = bob.subscribe('presence-chat')
  await Promise.all([nextEvent(a, 'pusher:subscription_succeeded'), nextEvent(b, 'pusher:subscription_succeeded')])
  const aliceGot: unknown[] = []
  a.bind('client-typing', (data: unknown) => { aliceGot.push(data) })
  const atBob = new Promise<[unknown, { user_id?: string }]>((resolve) => { b.bind('client-typing', (data: unknown, metadata: { user_id?: string }) => { resolve([data, metadata]) }) })
  t.ok(a.trigger('client-typing', { who: 'alice' }), 'sent')
  const [data, metadata] = await atBob
  t.same(data, { who: 'alice' }, 'bob gets it')
  t.equal(metadata.user_id, 'alice', 'with the sender\'s user_id')
  // Bob answers; had alice got her own event, it would have arrived before this (same channel, in order).
  const answer = nextEvent(a, 'client-ack')
  b.trigger('client-ack', {})
  await answer
  t.same(aliceGot, [], 'alice never got her own event back')

  const pub = alice.subscribe('public-room')
  await nextEvent(pub, 'pusher:subscription_succeeded')
  const error = nextEvent<{ data: { message: string } }>(alice.connection, 'error')
  pub.trigger('client-nope', {})
  t.match((await error).data.message, /private and presence channels only/, 'a public channel takes no client events')
})

t.test('client events over maxClientEventsPerSecond get pusher:error 4301', async (t) => {
  const { port } = await bareApp(t, { pusher: { ...pusherOptions, maxClientEventsPerSecond: 2 } })
  const alice = client(t, port)
  const channel = alice.subscribe('private-chat')
  await nextEvent(channel, 'pusher:subscription_succeeded')
  const error = nextEvent<{ data: { code: number } }>(alice.connection, 'error')
  for (let i = 0; i < 3; i++) channel.trigger('client-spam', { i })
  t.equal((await error).data.code, 4301, 'Pusher\'s code for a client event over the rate')
})

t.test('cache channels: pusher:cache_miss when empty, the last event (with its name) on subscribe after', async (t) => {
  const { app, port } = await bareApp(t, { pusher: pusherOptions })
  const first = client(t, port)
  const empty = first.subscribe('cache-prices')
  const miss = nextEvent(empty, 'pusher:cache_miss')
  await nextEvent(empty, 'pusher:subscription_succeeded')
  await miss
  t.pass('cache_miss on an empty cache channel')
  await app.realtime.publish('cache-prices', { eur: 1 }, { event: 'price' })
  await app.realtime.publish('cache-prices', { eur: 2 }, { event: 'price' })
  const second = client(t, port)
  const cached = second.subscribe('cache-prices')
  const misses: unknown[] = []
  cached.bind('pusher:cache_miss', () => { misses.push(1) })
  const last = nextEvent(cached, 'price')
  await nextEvent(cached, 'pusher:subscription_succeeded')
  t.same(await last, { eur: 2 }, 'the last event, under its name')
  // A cache_miss would come right after the replay: after a later event, it is known absent.
  const marker = nextEvent(cached, 'marker')
  await app.realtime.publish('cache-prices', 0, { event: 'marker' })
  await marker
  t.same(misses, [], 'and no cache_miss when there was one')
})

t.test('private-encrypted channels: relayed as they are (pusher-js decrypts with the SDK\'s shared secret); no client events', async (t) => {
  const { app, port } = await bareApp(t, { pusher: pusherOptions })
  const pusher = client(t, port)
  const channel = pusher.subscribe('private-encrypted-vault')
  await nextEvent(channel, 'pusher:subscription_succeeded')
  const got = nextEvent(channel, 'secret')
  // What the SDK's trigger sends for an encrypted channel: nonce and ciphertext under the channel's shared secret.
  const nonce = nacl.randomBytes(24)
  const ciphertext = nacl.secretbox(Buffer.from(JSON.stringify({ code: 42 })), nonce, channelSharedSecret('private-encrypted-vault'))
  await app.realtime.publish('private-encrypted-vault', JSON.stringify({ nonce: Buffer.from(nonce).toString('base64'), ciphertext: Buffer.from(ciphertext).toString('base64') }), { event: 'secret' })
  t.same(await got, { code: 42 }, 'decrypted by pusher-js')
  const error = nextEvent<{ data: { message: string } }>(pusher.connection, 'error')
  pusher.send_event('client-x', {}, 'private-encrypted-vault')
  t.match((await error).data.message, /private and presence channels only/)
})

t.test('sign-in: pusher:signin_success, the user index, sendToUser reaches #server-to-user-<id>, disconnect({ user }) stops it', async (t) => {
  const { app, port } = await bareApp(t, { pusher: pusherOptions })
  const pusher = client(t, port, { user: { id: 'u1', name: 'One' } })
  await connected(pusher)
  pusher.signin()
  await pusher.user.signinDonePromise
  t.same(pusher.user.user_data, { id: 'u1', name: 'One' }, 'signed in')
  const got = nextEvent(pusher.user, 'notice')
  await app.realtime.sendToUser('u1', { hello: 1 }, { event: 'notice' })
  t.same(await got, { hello: 1 }, 'the user event')
  const closed = nextEvent<{ data: { code: number } }>(pusher.connection, 'error')
  await app.realtime.disconnect({ user: 'u1' })
  t.equal((await closed).data.code, 4009, 'a kick is 4009 for Pusher clients')
  await until(() => pusher.connection.state === 'disconnected')
  t.pass('and pusher-js does not come back')
})

t.test('the sign-in timeout closes an unsigned connection with 4009; a signed one stays', async (t) => {
  const { port } = await bareApp(t, { pusher: { ...pusherOptions, userAuthenticationTimeoutMs: 300 } })
  const late = client(t, port)
  const error = nextEvent<{ data: { code: number } }>(late.connection, 'error')
  t.equal((await error).data.code, 4009)
  const signed = client(t, port, { user: { id: 'u2' } })
  await connected(signed)
  signed.signin()
  await signed.user.signinDonePromise
  const channel = signed.subscribe('orders')
  await nextEvent(channel, 'pusher:subscription_succeeded')
  t.equal(signed.connection.state, 'connected')
})

t.test('unsubscribe while pending, then resubscribe: the races pusher-js relies on', async (t) => {
  const { app, port } = await bareApp(t, { pusher: pusherOptions })
  const pusher = client(t, port)
  await connected(pusher)
  // Subscribe then unsubscribe before the answer: the server still answers, and pusher-js then unsubscribes.
  pusher.subscribe('race')
  pusher.unsubscribe('race')
  await until(async () => (await app.realtime.channels()).every((entry) => entry.channel !== 'race'))
  t.pass('the cancelled subscription was ended on the server')
  // Subscribe, unsubscribe, subscribe again while pending: subscribed, and receiving.
  const channel = pusher.subscribe('race2')
  pusher.unsubscribe('race2')
  const again = pusher.subscribe('race2')
  t.equal(again, channel, 'the same channel object')
  await until(() => again.subscribed)
  const got = nextEvent(again, 'e')
  await app.realtime.publish('race2', 5, { event: 'e' })
  t.equal(await got, 5, 'it receives')
  // Unsubscribed, then subscribed again after its answer.
  pusher.unsubscribe('race2')
  const third = pusher.subscribe('race2')
  await nextEvent(third, 'pusher:subscription_succeeded')
  const got3 = nextEvent(third, 'e')
  await app.realtime.publish('race2', 6, { event: 'e' })
  t.equal(await got3, 6)
})
