/**
 * Resume tokens on a plain WebSocket (the `ws` package, no client library): the welcome carries
 * one; a reconnect that presents it in its first message (`{"type":"resume","token":…}`, never in
 * the URL) gets its identity, every subscription and every position back, with exactly what it
 * missed. A token resumes once: a second presentation (a replay, as from a log) is refused with
 * `resume_token_used` and gives nothing, and the connection it resumed stays. A token that is
 * forged, expired or names nothing is no error: `resumed: false`. A client cut by the server
 * (here: a takeover, when the token is presented while its old socket is still open) with frames
 * still queued for it: a token alone resumes from what the server last wrote (those frames are
 * not replayed), and a client that sends the positions it read gets exactly what it missed
 * (docs/PROTOCOL.md, "Exact, or at most what the server last wrote").
 */
import t from 'tap'
import { channelsApp, offsets, send } from '../../helpers/channels-app.js'
import { rawUpgrade } from '../../helpers/realtime-app.js'
import { epochSec, hsToken, TEST_SECRET } from '../../helpers/tokens.js'
import { channelAcks, connect, resumeAnswer, resumeWith, sleep, type RecordingClient } from '../../helpers/ws-client.js'

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
  await subscribed(first, ['feed', 'quiet', 'chat'])
  await app.realtime.publish('feed', 1)
  await app.realtime.publish('quiet', 2)
  await first.waitFor('pub', 2)
  await first.close()
  while (app.realtime.connections > 0) await sleep(5)

  for (let i = 0; i < 3; i++) await app.realtime.publish('feed', i)
  await app.realtime.publish('chat', { text: 'while away' })

  const second = await resumeWith(ws, tokenOf(first))
  t.teardown(() => second.socket.terminate())
  const [again] = await second.waitFor('welcome')
  t.equal(again?.visitor, null, 'the welcome comes before the token is read')
  t.not(again?.resume, welcome?.resume, 'with a new token for the next time')
  t.match(await resumeAnswer(second), { type: 'ack', resumed: true, visitor: 'ann' }, 'the identity came back with the token')
  await second.waitFor('ack', 4)
  t.same(channelAcks(second).map((ack) => [ack.channel, ack.recovered, ack.id]), [['feed', true, undefined], ['quiet', true, undefined], ['chat', true, undefined]], 'every subscription restored, without the client asking')
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

t.test('a takeover with frames still queued: the token alone resumes from what the server last wrote; the positions the client read resume exactly', async (t) => {
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
  t.equal(app.realtime.resources().connections, 1)

  // A bare client that presents its token alone.
  const second = await resumeWith(ws, tokenOf(first))
  t.teardown(() => second.socket.terminate())
  t.match(await resumeAnswer(second, 10_000), { resumed: true }, 'the old socket was cut and its state saved, within the reconnect')
  // The old client reads what had reached it, then the end of its cut socket.
  first.socket.resume()
  await first.closed
  t.equal(first.closeCode, 1006, 'the old socket was cut without a close frame')
  const got = (client: RecordingClient, channel: string): number[] => offsets(client, channel)
  t.notOk(got(first, 'quiet').includes(2), 'quiet:2 was still queued in the server at the cut: it never reached the old socket')
  await second.waitFor('ack', 3)
  t.same(channelAcks(second).map((ack) => [ack.channel, ack.recovered]), [['feed', true], ['quiet', true]], 'both channels resumed from the token')
  // Published after the cut: the token's positions are those of the last frames written (feed:6, quiet:2).
  await app.realtime.publish('quiet', 'after')
  await second.waitFor('pub', 1)
  await sleep(50)
  t.same(got(second, 'feed'), [], 'token alone: nothing of feed is replayed, though the old socket missed frames the server had written')
  t.same(got(second, 'quiet'), [3], 'token alone: quiet resumes after the last frame the server wrote (quiet:2, in flight, is not replayed)')

  // The same client, sending the positions it read (its last pub per channel, or the sub's ack).
  const since = (channel: string): { epoch: string, offset: number } => {
    const read = first.frames.filter((frame) => (frame.type === 'pub' || (frame.type === 'ack' && frame.id !== undefined)) && frame.channel === channel).at(-1)
    return { epoch: String(read?.epoch), offset: Number(read?.offset) }
  }
  const channels = ['feed', 'quiet'].map((channel) => ({ channel, since: since(channel) }))
  await second.close()
  const third = await resumeWith(ws, tokenOf(second), {}, { channels })
  t.teardown(() => third.socket.terminate())
  t.match(await resumeAnswer(third), { resumed: true })
  await third.waitFor('ack', 3)
  t.same(channelAcks(third).map((ack) => [ack.channel, ack.recovered]), [['feed', true], ['quiet', true]])
  const missedFeed = 6 - got(first, 'feed').length
  await third.waitFor('pub', missedFeed + 2, 10_000)
  await sleep(50)
  t.same([...got(first, 'feed'), ...got(third, 'feed')], [1, 2, 3, 4, 5, 6], 'with its positions: feed, every publication exactly once across both sockets')
  t.same([...got(first, 'quiet'), ...got(third, 'quiet')], [1, 2, 3], 'with its positions: quiet, the frame that was in flight is replayed, not lost')
})

t.test('tokens that are not honoured: forged, of another visitor, of nothing', async (t) => {
  const { ws } = await channelsApp(t)
  const first = await connect(ws, { headers: { 'x-visitor': 'ann' } })
  await first.waitFor('welcome')
  await subscribed(first, ['feed'])
  const token = tokenOf(first)
  await first.close()

  const forged = await resumeWith(ws, token.slice(0, -2) + (token.endsWith('AA') ? 'BA' : 'AA'))
  t.match(await resumeAnswer(forged), { type: 'ack', resumed: false, visitor: null })
  await sleep(100)
  t.equal(channelAcks(forged).length, 0, 'a forged token restores nothing')
  await forged.close()

  const garbage = await resumeWith(ws, 'nonsense')
  t.match(await resumeAnswer(garbage), { type: 'ack', resumed: false })
  await garbage.close()

  const bob = await resumeWith(ws, token, { headers: { 'x-visitor': 'bob' } })
  t.match(await resumeAnswer(bob), { type: 'ack', resumed: false, visitor: 'bob' }, 'another visitor cannot take it')
  await bob.close()

  const again = await resumeWith(ws, token)
  t.match(await resumeAnswer(again), { type: 'error', code: 'resume_token_used' }, 'and its presentation spent the token: it resumes once, honoured or not')
  await again.close()
})

t.test('a token resumes once: its replay (as read from a log) is refused, gives no identity and leaves the resumed connection alone', async (t) => {
  const { app, ws } = await channelsApp(t)
  const first = await connect(ws, { headers: { 'x-visitor': 'ann', 'x-name': 'Ann' } })
  await first.waitFor('welcome')
  await subscribed(first, ['feed', 'signed'])
  await first.close()
  const owner = await resumeWith(ws, tokenOf(first))
  t.teardown(() => owner.socket.terminate())
  t.match(await resumeAnswer(owner), { resumed: true, visitor: 'ann' })
  await owner.waitFor('ack', 3)

  const replay = await resumeWith(ws, tokenOf(first))
  t.teardown(() => replay.socket.terminate())
  t.match(await resumeAnswer(replay), { type: 'error', code: 'resume_token_used' }, 'the second presentation is refused')
  send(replay, { type: 'pub', channel: 'signed', data: { text: 'as ann?' }, id: 'p' })
  await replay.waitFor('ack', 1)
  const [line] = await owner.waitFor('pub')
  t.same(line?.data, { text: 'as ann?', from: 'anonymous' }, 'the replay\'s publication is anonymous: the token gave it no identity')
  await app.realtime.publish('feed', 'live')
  await owner.waitFor('pub', 2)
  t.equal(owner.socket.readyState, owner.socket.OPEN, 'the live connection was not taken over')
  t.equal(app.realtime.connections, 2)
  t.same(replay.ofType('pub'), [], 'and the replay was subscribed to nothing')
})

t.test('a resume token never travels in the URL, and a resume frame must come first', async (t) => {
  const { ws, port } = await channelsApp(t)
  const first = await connect(ws, { headers: { 'x-visitor': 'ann' } })
  await first.waitFor('welcome')
  await first.close()
  const inUrl = await rawUpgrade(port, `/ws?resume=${encodeURIComponent(tokenOf(first))}`)
  inUrl.socket.destroy()
  t.equal(inUrl.status, 400, '?resume= is refused before the upgrade')
  t.match(inUrl.rest.toString(), /FRT_RESUME_IN_URL/, 'with its coded error')

  const late = await connect(ws)
  t.teardown(() => late.socket.terminate())
  await late.waitFor('welcome')
  send(late, { type: 'sub', channel: 'feed', id: 1 })
  await late.waitFor('ack')
  late.socket.send(JSON.stringify({ type: 'resume', token: tokenOf(first), id: 'resume' }))
  t.match(await resumeAnswer(late), { type: 'error', code: 'resume_not_first' })
  const owner = await resumeWith(ws, tokenOf(first))
  t.teardown(() => owner.socket.terminate())
  t.match(await resumeAnswer(owner), { resumed: true, visitor: 'ann' }, 'a refused late frame did not spend the token')
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

  const before = await resumeWith(ws, tokenOf(first))
  t.match(await resumeAnswer(before), { resumed: true, visitor: 'tess' }, 'before its expiry the token\'s visitor comes back')
  await before.waitFor('ack', 2)
  const { code } = await before.closed
  t.equal(code, 4401, 'and is cut at the token\'s expiry, as the first connection would have been')

  // The next token is the one the resumed connection's welcome gave (a token resumes once).
  const after = await resumeWith(ws, tokenOf(before))
  t.teardown(() => after.socket.terminate())
  t.match(await resumeAnswer(after), { resumed: true, visitor: null }, 'after it, the subscriptions come back but not the identity')
  await after.waitFor('ack', 2)
  t.same(channelAcks(after).map((ack) => ack.channel), ['feed'])
})

t.test('with requireAuth, an anonymous socket may send resume first, and what follows runs as the identity it restores', async (t) => {
  const { ws } = await channelsApp(t, { jwtSecret: TEST_SECRET, requireAuth: true })
  const first = await connect(ws, { headers: { authorization: `Bearer ${await hsToken({ sub: 'tess', exp: epochSec(600) })}` } })
  await first.waitFor('welcome')
  await subscribed(first, ['feed'])
  await first.close()
  const again = await resumeWith(ws, tokenOf(first))
  t.teardown(() => again.socket.terminate())
  // Sent at once, before the answer: it waits for the resume and runs as tess.
  send(again, { type: 'sub', channel: 'quiet', id: 'q' })
  t.match(await resumeAnswer(again), { type: 'ack', resumed: true, visitor: 'tess' })
  await again.waitFor('ack', 3)
  t.same(channelAcks(again).map((ack) => ack.channel).sort(), ['feed', 'quiet'], 'the token\'s channel and the one asked after it')
  t.same(again.ofType('error'), [], 'nothing was refused as auth_required')

  const stranger = await resumeWith(ws, tokenOf(first))
  t.teardown(() => stranger.socket.terminate())
  t.match(await resumeAnswer(stranger), { code: 'resume_token_used' })
  send(stranger, { type: 'sub', channel: 'quiet', id: 'q' })
  const [refused] = await stranger.waitFor('error', 2)
  t.ok(refused !== undefined)
  t.match(stranger.ofType('error')[1], { code: 'auth_required', id: 'q' }, 'a replayed token leaves the socket anonymous')
})
