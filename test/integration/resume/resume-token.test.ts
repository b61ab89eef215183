/**
 * Resume tokens on a plain WebSocket (the `ws` package, no client library): the welcome carries
 * one; a reconnect that presents it gets its identity, every subscription and every position back
 * in one round trip, with exactly what it missed. A token that is forged, expired or names
 * nothing is no error: the connection opens afresh. A client cut by the server (here: a takeover,
 * when the token is presented while its old socket is still open) loses nothing, not even the
 * frames that were still queued in the server when it was cut.
 */
import t from 'tap'
import { channelsApp, offsets, send } from '../../helpers/channels-app.js'
import { rawUpgrade } from '../../helpers/realtime-app.js'
import { epochSec, hsToken, TEST_SECRET } from '../../helpers/tokens.js'
import { connect, sleep, type RecordingClient } from '../../helpers/ws-client.js'

async function subscribed (client: RecordingClient, channels: string[]): Promise<void> {
  for (const [i, channel] of channels.entries()) send(client, { type: 'sub', channel, id: `s${i}` })
  await client.waitFor('ack', channels.length)
}

const tokenOf = (client: RecordingClient): string => String(client.ofType('welcome')[0]?.resume)

t.test('a bare WebSocket resumes every channel with its token: exactly what it missed', async (t) => {
  const { app, ws } = await channelsApp(t)
  const first = await connect(ws, { headers: { 'x-visitor': 'ann' } })
  const [welcome] = await first.waitFor('welcome')
  t.match(welcome?.resume, /^[\w-]+\.[0-9a-z]+\.[\w-]{22}$/, 'the welcome carries a resume token')
  t.equal(welcome?.resumed, undefined, 'resumed is only said to a connection that presented a token')
  await subscribed(first, ['feed', 'quiet', 'chat'])
  await app.realtime.publish('feed', 1)
  await app.realtime.publish('quiet', 2)
  await first.waitFor('pub', 2)
  await first.close()
  while (app.realtime.connections > 0) await sleep(5)

  for (let i = 0; i < 3; i++) await app.realtime.publish('feed', i)
  await app.realtime.publish('chat', { text: 'while away' })

  const second = await connect(`${ws}?resume=${encodeURIComponent(tokenOf(first))}`)
  t.teardown(() => second.socket.terminate())
  const [again] = await second.waitFor('welcome')
  t.equal(again?.resumed, true)
  t.equal(again?.visitor, 'ann', 'the identity came back with the token')
  t.not(again?.resume, welcome?.resume, 'and a new token for the next time')
  const acks = await second.waitFor('ack', 3)
  t.same(acks.map((ack) => [ack.channel, ack.recovered, ack.id]), [['feed', true, undefined], ['quiet', true, undefined], ['chat', true, undefined]], 'every subscription restored, without the client asking')
  await second.waitFor('pub', 4)
  await sleep(50)
  t.same(offsets(second, 'feed'), [2, 3, 4])
  t.same(offsets(second, 'quiet'), [])
  t.same(offsets(second, 'chat'), [1])
  await second.waitFor('presence', 1)
  await app.realtime.publish('quiet', 'live')
  await second.waitFor('pub', 5)
  t.same(offsets(second, 'quiet'), [2], 'and it is live again')
})

t.test('a token presented while its old socket is open takes the old one over, queued frames included', async (t) => {
  // A budget large enough that the stalled client is never closed as a slow consumer.
  const { app, ws } = await channelsApp(t, { maxBufferedBytes: 256 * 1024 * 1024 })
  const first = await connect(ws)
  await first.waitFor('welcome')
  await subscribed(first, ['feed', 'quiet'])
  await app.realtime.publish('quiet', 'before')
  await first.waitFor('pub')
  first.socket.pause()
  // Fills the kernel buffers: what follows stays queued in the server process.
  await app.realtime.publish('feed', 'x'.repeat(24 * 1024 * 1024))
  for (let i = 0; i < 5; i++) await app.realtime.publish('feed', { i })
  await app.realtime.publish('quiet', 'queued')
  const old = app.realtime.resources()
  t.equal(old.connections, 1)

  const second = await connect(`${ws}?resume=${encodeURIComponent(tokenOf(first))}`)
  t.teardown(() => second.socket.terminate())
  const [welcome] = await second.waitFor('welcome', 1, 10_000)
  t.equal(welcome?.resumed, true, 'the old socket was cut and its state saved, within the reconnect')
  // The old client reads what had reached it, then the end of its cut socket.
  first.socket.resume()
  await first.closed
  t.equal(first.closeCode, 1006, 'the old socket was cut without a close frame')
  await second.waitFor('pub', 7, 10_000)
  const got = (client: RecordingClient, channel: string): number[] => offsets(client, channel)
  t.same([...got(first, 'feed'), ...got(second, 'feed')], [1, 2, 3, 4, 5, 6], 'feed: every publication exactly once across both sockets')
  t.same([...got(first, 'quiet'), ...got(second, 'quiet')], [1, 2], 'quiet: the queued one is replayed, not lost')
})

t.test('tokens that are not honoured: forged, of another visitor, of nothing', async (t) => {
  const { ws } = await channelsApp(t)
  const first = await connect(ws, { headers: { 'x-visitor': 'ann' } })
  await first.waitFor('welcome')
  await subscribed(first, ['feed'])
  const token = tokenOf(first)
  await first.close()

  const forged = await connect(`${ws}?resume=${encodeURIComponent(token.slice(0, -2) + (token.endsWith('AA') ? 'BA' : 'AA'))}`)
  t.match((await forged.waitFor('welcome'))[0], { resumed: false, visitor: null })
  await sleep(100)
  t.equal(forged.ofType('ack').length, 0, 'a forged token restores nothing')
  await forged.close()

  const bob = await connect(`${ws}?resume=${encodeURIComponent(token)}`, { headers: { 'x-visitor': 'bob' } })
  t.match((await bob.waitFor('welcome'))[0], { resumed: false, visitor: 'bob' }, 'another visitor cannot take it')
  await bob.close()

  const garbage = await connect(`${ws}?resume=nonsense`)
  t.match((await garbage.waitFor('welcome'))[0], { resumed: false })
  await garbage.close()

  const again = await connect(`${ws}?resume=${encodeURIComponent(token)}`)
  t.match((await again.waitFor('welcome'))[0], { resumed: true, visitor: 'ann' }, 'the owner still can (a token resumes until its state expires)')
  await again.close()
})

t.test('channels in the URL: subscribed at once, with the positions they name', async (t) => {
  const { app, ws, port } = await channelsApp(t)
  for (let i = 0; i < 4; i++) await app.realtime.publish('feed', i)
  const probe = await connect(ws)
  send(probe, { type: 'sub', channel: 'feed', id: 1 })
  const [ack] = await probe.waitFor('ack')
  await probe.close()
  const client = await connect(`${ws}?channels=${encodeURIComponent(`feed|${String(ack?.epoch)}|2,quiet`)}`)
  t.teardown(() => client.socket.terminate())
  const acks = await client.waitFor('ack', 2)
  t.same(acks.map((a) => [a.channel, a.recovered]), [['feed', true], ['quiet', false]])
  await client.waitFor('pub', 2)
  t.same(offsets(client, 'feed'), [3, 4])
  const bad = await rawUpgrade(port, `/ws?channels=${encodeURIComponent('feed|x')}`)
  bad.socket.destroy()
  t.equal(bad.status, 400, 'an unreadable list is refused before the upgrade')
})

t.test('an identity that came from a token is resumed only until that token expires, and keeps its deadline', async (t) => {
  const { ws } = await channelsApp(t, { jwtSecret: TEST_SECRET, tokenRefreshLeadMs: 0 })
  const token = await hsToken({ sub: 'tess', exp: epochSec(2) })
  const first = await connect(ws, { headers: { authorization: `Bearer ${token}` } })
  const [welcome] = await first.waitFor('welcome')
  t.equal(welcome?.visitor, 'tess', 'identified by the bearer token')
  await subscribed(first, ['feed'])
  await first.close()

  const before = await connect(`${ws}?resume=${encodeURIComponent(tokenOf(first))}`)
  t.match((await before.waitFor('welcome'))[0], { resumed: true, visitor: 'tess' }, 'before its expiry the token\'s visitor comes back')
  await before.waitFor('ack')
  const { code } = await before.closed
  t.equal(code, 4401, 'and is cut at the token\'s expiry, as the first connection would have been')

  const after = await connect(`${ws}?resume=${encodeURIComponent(tokenOf(first))}`)
  t.teardown(() => after.socket.terminate())
  t.match((await after.waitFor('welcome'))[0], { resumed: true, visitor: null }, 'after it, the subscriptions come back but not the identity')
})
