/**
 * The Server-Sent Events fallback on real sockets: a stream subscribes to several channels and
 * gets what a WebSocket gets (publications, presence, ticks); its requests go in POSTs bound to it
 * and are answered on the stream; and ONE Last-Event-ID, sent back as a browser does, resumes
 * every channel exactly: nothing missed, nothing twice.
 */
import { EventEmitter } from 'node:events'
import t from 'tap'
import { MemoryAdapter } from '../../../src/index.js'
import { cursorKey } from '../../../src/recovery/sse-event-ids.js'
import { channelsApp } from '../../helpers/channels-app.js'
import { SseClient } from '../../helpers/sse-client.js'
import { connect, type Frame } from '../../helpers/ws-client.js'

const pubsOf = (frames: Frame[], channel: string): number[] => frames.filter((f) => f.type === 'pub' && f.channel === channel).map((f) => f.offset as number)

t.test('a stream gets publications of several channels, presence and ticks, each position in its event ids', async (t) => {
  const { app, port } = await channelsApp(t, { tickIntervalMs: 100 })
  const stream = await SseClient.open(`http://127.0.0.1:${port}/sse?channels=feed,chat`, { headers: { 'x-visitor': 'ann', 'x-name': 'Ann' } })
  t.teardown(() => { stream.cut() })
  t.equal(stream.status, 200)
  t.match(stream.headers['content-type'], /^text\/event-stream/)
  t.equal(stream.headers['x-accel-buffering'], 'no', 'nginx is told not to buffer the stream')
  t.match(stream.headers['cache-control'], /no-cache/)
  const [welcome] = await stream.waitFor('welcome')
  t.match(welcome, { visitor: 'ann', stream: /^[\w-]+\.[\w-]+\.[\w-]+$/ }, 'the welcome names the visitor and the key for POSTs')
  t.ok(stream.retryMs !== null && stream.retryMs >= 500 && stream.retryMs <= 5000, `a jittered retry hint opens the stream (${stream.retryMs ?? 'none'} ms)`)
  await stream.waitFor('ack', 2)
  await stream.frame((f) => f.type === 'presence' && f.action === 'snapshot')
  await stream.waitFor('tick', 2)

  const bob = await connect(`ws://127.0.0.1:${port}/ws`, { headers: { 'x-visitor': 'bob', 'x-name': 'Bob' } })
  t.teardown(() => bob.socket.terminate())
  bob.socket.send(JSON.stringify({ type: 'sub', channel: 'chat', id: 1 }))
  await stream.frame((f) => f.type === 'presence' && f.action === 'join' && (f.member as { id: string }).id === 'bob')
  t.pass('a WebSocket visitor joining shows in the stream\'s presence')

  await app.realtime.publish('feed', { n: 1 })
  await app.realtime.publish('chat', { n: 2 })
  await app.realtime.publish('feed', { n: 3 })
  await stream.waitFor('pub', 3)
  const ids = stream.events.filter((e) => e.data.includes('"type":"pub"')).map((e) => e.lastEventId)
  const epochFeed = stream.ofType('pub').find((f) => f.channel === 'feed')?.epoch as string
  const epochChat = stream.ofType('pub').find((f) => f.channel === 'chat')?.epoch as string
  t.same(ids, [`feed|${epochFeed}|1,chat|${epochChat}|0`, `feed|${epochFeed}|1,chat|${epochChat}|1`, `feed|${epochFeed}|2,chat|${epochChat}|1`],
    'each publication\'s id carries the position of every channel')
  const tickEvent = stream.events.find((e) => e.data.includes('"type":"tick"'))
  t.ok(tickEvent !== undefined, 'ticks arrive as events too')
})

t.test('requests go in POSTs bound to the stream, and are answered on it with their ids', async (t) => {
  const { port } = await channelsApp(t)
  const stream = await SseClient.open(`http://127.0.0.1:${port}/sse`, { headers: { 'x-visitor': 'ann' } })
  t.teardown(() => { stream.cut() })
  await stream.waitFor('welcome')
  t.equal((await stream.post({ type: 'sub', channel: 'chat', rewind: 5, id: 'a' })).status, 202, 'a sub is accepted')
  await stream.frame((f) => f.type === 'ack' && f.id === 'a')
  t.equal((await stream.post({ type: 'pub', channel: 'chat', data: { text: 'hi' }, id: 'b' })).status, 202)
  const ack = await stream.frame((f) => f.type === 'ack' && f.id === 'b')
  const pub = await stream.frame((f) => f.type === 'pub')
  t.same(pub.data, { text: 'hi' })
  t.equal(pub.offset, ack.offset, 'the publisher gets its own publication, like everyone')
  t.equal((await stream.post({ type: 'sub', channel: 'nope', id: 'c' })).status, 202)
  t.match(await stream.frame((f) => f.id === 'c'), { type: 'error', code: 'unknown_channel' }, 'a refusal comes on the stream, with the request id')
  t.equal((await stream.post('{ not json')).status, 202)
  t.match(await stream.frame((f) => f.type === 'error' && f.code === 'invalid_json'), { code: 'invalid_json' }, 'bad frames get the same error frame as on a WebSocket')
  t.equal((await stream.post('plain words')).status, 202, 'plain text is accepted, as on a WebSocket')

  const before = stream.lastEventId
  t.match(before, /^chat\|/)
  t.equal((await stream.post({ type: 'unsub', channel: 'chat' })).status, 202)
  const deadline = Date.now() + 3000
  while (stream.lastEventId !== '' && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5))
  t.equal(stream.lastEventId, '', 'an unsubscribe without an id still updates the last event id (an event with only an id)')
})

t.test('POST errors: unknown key 404, foreign origin 403, too large 413, other media types 415', async (t) => {
  const { port } = await channelsApp(t, { maxPayloadBytes: 1000 })
  const stream = await SseClient.open(`http://127.0.0.1:${port}/sse`)
  t.teardown(() => { stream.cut() })
  await stream.waitFor('welcome')
  const missing = await stream.post({ type: 'sub', channel: 'feed' }, `${stream.key}x`)
  t.equal(missing.status, 404)
  t.match(await missing.json(), { code: 'FRT_STREAM_NOT_FOUND' })
  t.equal((await stream.post({ type: 'sub', channel: 'feed' }, 'garbage')).status, 404)
  const [tag, id, secret] = stream.key.split('.')
  t.equal((await stream.post({ type: 'sub', channel: 'feed' }, `${tag ?? ''}.${id ?? ''}.${(secret ?? '').replace(/^./, (c) => c === 'A' ? 'B' : 'A')}`)).status, 404, 'a wrong secret is refused')
  const foreign = await stream.post({ type: 'sub', channel: 'feed' }, stream.key, { origin: 'http://evil.example' })
  t.equal(foreign.status, 403)
  t.match(await foreign.json(), { code: 'FRT_ORIGIN_FORBIDDEN' })
  t.equal((await stream.post({ type: 'pub', channel: 'chat', data: 'x'.repeat(2000) })).status, 413, 'larger than maxPayloadBytes')
  const form = await fetch(`http://127.0.0.1:${port}/sse`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'realtime-stream': stream.key }, body: 'a=1' })
  t.equal(form.status, 415)
  t.equal(stream.ofType('ack').length, 0, 'none of them reached the stream')
  stream.cut()
  await stream.ended
  const deadline = Date.now() + 3000
  let gone = 0
  while (Date.now() < deadline && (gone = (await stream.post({ type: 'sub', channel: 'feed' }, stream.key)).status) !== 404) await new Promise((resolve) => setTimeout(resolve, 20))
  t.equal(gone, 404, 'a stream that ended takes no more POSTs')
})

t.test('POSTs count against the stream\'s message rate', async (t) => {
  const { port } = await channelsApp(t, { messageRatePerSec: 1, messageBurst: 2 })
  const stream = await SseClient.open(`http://127.0.0.1:${port}/sse`)
  t.teardown(() => { stream.cut() })
  await stream.waitFor('welcome')
  for (let i = 0; i < 4; i++) await stream.post({ type: 'sub', channel: 'nope', id: i })
  const limited = await stream.frame((f) => f.type === 'error' && f.code === 'rate_limited')
  t.ok(typeof limited.id === 'number' && limited.id >= 2, 'past the burst, POSTed messages are dropped with rate_limited')
})

t.test('one Last-Event-ID resumes every channel exactly: nothing missed, nothing twice', async (t) => {
  const { app, port } = await channelsApp(t)
  const base = `http://127.0.0.1:${port}/sse?channels=feed,quiet,chat`
  const first = await SseClient.open(base)
  await first.waitFor('ack', 3)
  for (let i = 0; i < 5; i++) {
    await app.realtime.publish('feed', { i })
    if (i % 2 === 0) await app.realtime.publish('quiet', { i })
  }
  await first.waitFor('pub', 8)
  first.cut()
  await first.ended
  // Published while the browser was away: on every channel, one of them untouched since the cut.
  for (let i = 5; i < 9; i++) await app.realtime.publish('feed', { i })
  await app.realtime.publish('chat', { text: 'while away' })

  const second = await SseClient.open(base, { headers: { 'last-event-id': first.lastEventId } })
  t.teardown(() => { second.cut() })
  const acks = await second.waitFor('ack', 3)
  t.same(acks.map((ack) => [ack.channel, ack.recovered]), [['feed', true], ['quiet', true], ['chat', true]], 'every channel is recovered, in the id\'s order')
  await second.waitFor('pub', 5)
  await app.realtime.publish('quiet', { live: true })
  await second.frame((f) => f.type === 'pub' && f.channel === 'quiet')
  const all = [...first.frames, ...second.frames]
  t.same(pubsOf(all, 'feed'), [1, 2, 3, 4, 5, 6, 7, 8, 9], 'feed: every publication once, in order')
  t.same(pubsOf(all, 'quiet'), [1, 2, 3, 4], 'quiet: every publication once, in order')
  t.same(pubsOf(all, 'chat'), [1], 'chat: the one published while away')
})

t.test('a cut during the replay resumes from inside it', async (t) => {
  const { app, port } = await channelsApp(t)
  for (let i = 0; i < 20; i++) await app.realtime.publish('feed', { i })
  const first = await SseClient.open(`http://127.0.0.1:${port}/sse?channels=feed&rewind=20`)
  await first.waitFor('pub', 20)
  // The browser got the ack and only part of the replay: its last id is that of the 7th publication.
  const seventh = first.events.filter((e) => e.data.includes('"type":"pub"'))[6]
  t.ok(seventh !== undefined)
  const ackEvent = first.events.find((e) => e.data.includes('"type":"ack"'))
  t.match(ackEvent?.lastEventId, /\|0$/, 'the ack\'s id places the client where its replay starts, not at the top')
  first.cut()
  const second = await SseClient.open(`http://127.0.0.1:${port}/sse?channels=feed`, { headers: { 'last-event-id': seventh?.lastEventId ?? '' } })
  t.teardown(() => { second.cut() })
  const [ack] = await second.waitFor('ack')
  t.equal(ack?.recovered, true)
  await second.waitFor('pub', 13)
  t.same(pubsOf([...first.frames.filter((f) => (f.offset as number) <= 7), ...second.frames], 'feed'), Array.from({ length: 20 }, (_, i) => i + 1))
})

t.test('ids too long for a header name a cursor in the adapter, and still resume exactly', async (t) => {
  const { app, port } = await channelsApp(t, { maxSubscriptionsPerConnection: 64, channels: [{ name: 'long:*', historySize: 100 }] })
  const names = Array.from({ length: 24 }, (_, i) => `long:${'long-channel-name-'.repeat(2)}${i}`)
  const first = await SseClient.open(`http://127.0.0.1:${port}/sse?channels=${names.join(',')}`)
  await first.waitFor('ack', names.length)
  for (const name of names) await app.realtime.publish(name, { name })
  await first.waitFor('pub', names.length)
  await app.realtime.publish(names[3] ?? '', { again: true })
  await first.waitFor('pub', names.length + 1)
  t.match(first.lastEventId, /^~[\w-]+\.[0-9a-z]+~/, `the id names a cursor (${first.lastEventId.length} characters)`)
  t.ok(first.lastEventId.length < names.join(',').length, `and is shorter than the channel names alone (${names.join(',').length} characters)`)
  first.cut()
  await first.ended
  await app.realtime.publish(names[0] ?? '', { missed: 1 })
  await app.realtime.publish(names[23] ?? '', { missed: 2 })

  const second = await SseClient.open(`http://127.0.0.1:${port}/sse`, { headers: { 'last-event-id': first.lastEventId } })
  t.teardown(() => { second.cut() })
  const acks = await second.waitFor('ack', names.length)
  t.ok(acks.every((ack) => ack.recovered === true), 'every one of the 24 channels recovered')
  const missed = await second.waitFor('pub', 2)
  t.same(missed.map((f) => [f.channel, f.offset]), [[names[0], 2], [names[23], 2]], 'exactly the two publications missed')
})

t.test('an ended stream leaves its cursor behind for another resumeTtlMs from its end, for its browser to come back with', async (t) => {
  // The adapter's shared state, with each write told as it happens.
  const writes = new EventEmitter()
  class RecordingAdapter extends MemoryAdapter {
    override async stateSet (key: string, value: unknown, ttlMs: number): Promise<void> {
      await super.stateSet(key, value, ttlMs)
      writes.emit('set', key, ttlMs)
    }
  }
  const { port } = await channelsApp(t, { adapter: new RecordingAdapter(), resumeTtlMs: 60_000, maxSubscriptionsPerConnection: 64, channels: [{ name: 'long:*', historySize: 10 }] })
  const names = Array.from({ length: 24 }, (_, i) => `long:${'long-channel-name-'.repeat(2)}${i}`)
  const stream = await SseClient.open(`http://127.0.0.1:${port}/sse?channels=${names.join(',')}`)
  await stream.waitFor('ack', names.length)
  const cursor = /^~([\w-]+\.[0-9a-z]+)~/.exec(stream.lastEventId)?.[1]
  t.ok(cursor !== undefined, `the stream's id names a cursor (${stream.lastEventId.slice(0, 24)}…)`)
  // Every write of that cursor from the cut on.
  const refreshed = new Promise<number>((resolve) => {
    const listener = (key: string, ttlMs: number): void => {
      if (key !== cursorKey(cursor ?? '')) return
      writes.off('set', listener)
      resolve(ttlMs)
    }
    writes.on('set', listener)
  })
  stream.cut()
  await stream.ended
  // A deadline only for the failure: the write comes within a turn or two of the end.
  const ttlMs = await Promise.race([refreshed, new Promise<number>((resolve) => setTimeout(() => { resolve(-1) }, 10_000).unref())])
  t.equal(ttlMs, 60_000, 'the cursor was written again when the stream ended, kept for resumeTtlMs')
})
