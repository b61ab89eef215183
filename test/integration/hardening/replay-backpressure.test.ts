/**
 * A healthy reader is never cut as a slow consumer, however much the server writes in one turn:
 * a replay (`rewind`, `since`, an event stream's rewind) is streamed as the socket drains, live
 * publications wait behind it and arrive after it exactly once, and a burst larger than the send
 * budget reaches a subscriber in another process whole. A client that stops reading mid-replay is
 * still cut with 4008, with what the server holds for it within the budget.
 */
import t from 'tap'
import type { ConnectionInfo } from '../../../src/index.js'
import type { Connection } from '../../../src/node/connection.js'
import type { WebSocketConnection } from '../../../src/transports/websocket.js'
import { bareApp } from '../../helpers/realtime-app.js'
import { SseClient } from '../../helpers/sse-client.js'
import { startSubscriber } from '../../helpers/subscriber-process.js'
import { connect, sleep, type Frame, type RecordingClient } from '../../helpers/ws-client.js'

const REPLAY = 1000
/** About 2 KB per publication: 1,000 of them are twice the default 1 MiB budget. */
const payload = (i: number, bytes = 2000): { i: number, text: string } => ({ i, text: `${i}:`.padEnd(bytes, 'x') })
const CHANNELS = [{ name: 'feed', historySize: REPLAY, historyTtlMs: 600_000 }]

const pubOffsets = (frames: readonly Frame[]): number[] => frames.filter((f) => f.type === 'pub' && f.channel === 'feed').map((f) => f.offset as number)
const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i)
const send = (client: RecordingClient, message: Record<string, unknown>): void => { client.socket.send(JSON.stringify(message)) }

async function fill (publish: (channel: string, data: unknown) => Promise<unknown>, count: number, bytes = 2000): Promise<void> {
  for (let i = 1; i <= count; i++) await publish('feed', payload(i, bytes))
}

t.test('WebSocket: a 1,000 × 2 KB rewind arrives whole and in order, a live publication after it, exactly once', async (t) => {
  const { app, ws } = await bareApp(t, { channels: CHANNELS })
  await fill((c, d) => app.realtime.publish(c, d), REPLAY)
  const client = await connect(`${ws}/ws`)
  t.teardown(() => client.socket.terminate())
  await client.waitFor('welcome')
  // A live publication made while the replay is on its way (its first publication just arrived).
  let liveDuring: Promise<unknown> | null = null
  let receivedBeforeLive = -1
  client.socket.on('message', () => {
    if (liveDuring !== null || client.ofType('pub').length === 0) return
    receivedBeforeLive = client.ofType('pub').length
    liveDuring = app.realtime.publish('feed', payload(REPLAY + 1))
  })
  send(client, { type: 'sub', channel: 'feed', rewind: REPLAY, id: 1 })
  const [ack] = await client.waitFor('ack')
  t.match(ack, { channel: 'feed', offset: REPLAY })
  await client.waitFor('pub', REPLAY + 1, 30_000)
  t.ok(receivedBeforeLive > 0 && receivedBeforeLive < REPLAY, `the live publication was made mid-replay (after ${receivedBeforeLive} of ${REPLAY})`)
  await app.realtime.publish('feed', payload(REPLAY + 2))
  await client.waitFor('pub', REPLAY + 2, 10_000)
  await sleep(50)
  t.same(pubOffsets(client.frames), range(1, REPLAY + 2), 'the replay whole and in order, then each live publication once')
  t.equal(client.closeCode, null, 'never cut as a slow consumer')
})

t.test('WebSocket: live publications made while a replay outlasting the socket buffers streams arrive after it, exactly once', async (t) => {
  const { app, ws } = await bareApp(t, { channels: CHANNELS })
  // 1,000 × 16 KB: more than loopback's socket buffers take at once, so the replay is still
  // waiting in the server when the live publications are made.
  await fill((c, d) => app.realtime.publish(c, d), REPLAY, 16_000)
  const client = await connect(`${ws}/ws`)
  t.teardown(() => client.socket.terminate())
  await client.waitFor('welcome')
  let live: Promise<unknown> | null = null
  let receivedBeforeLive = -1
  client.socket.on('message', () => {
    if (live !== null || client.ofType('pub').length === 0) return
    receivedBeforeLive = client.ofType('pub').length
    live = Promise.all([app.realtime.publish('feed', payload(REPLAY + 1)), app.realtime.publish('feed', payload(REPLAY + 2))])
  })
  send(client, { type: 'sub', channel: 'feed', rewind: REPLAY, id: 1 })
  await client.waitFor('pub', REPLAY + 2, 60_000)
  t.ok(receivedBeforeLive > 0 && receivedBeforeLive < REPLAY, `the live publications were made mid-replay (after ${receivedBeforeLive} of ${REPLAY})`)
  await sleep(50)
  t.same(pubOffsets(client.frames), range(1, REPLAY + 2), 'the whole replay first, then each live publication once')
  t.equal(client.closeCode, null)
})

t.test('WebSocket: a 1,000 × 2 KB recovery with since arrives whole, recovered', async (t) => {
  const { app, ws } = await bareApp(t, { channels: CHANNELS })
  const first = await connect(`${ws}/ws`)
  await first.waitFor('welcome')
  send(first, { type: 'sub', channel: 'feed', id: 1 })
  const [firstAck] = await first.waitFor('ack')
  await first.close()
  await fill((c, d) => app.realtime.publish(c, d), REPLAY)
  const client = await connect(`${ws}/ws`)
  t.teardown(() => client.socket.terminate())
  await client.waitFor('welcome')
  send(client, { type: 'sub', channel: 'feed', since: { epoch: firstAck?.epoch, offset: 0 }, id: 1 })
  const [ack] = await client.waitFor('ack')
  t.match(ack, { recovered: true, offset: REPLAY })
  await client.waitFor('pub', REPLAY, 30_000)
  await app.realtime.publish('feed', payload(REPLAY + 1))
  await client.waitFor('pub', REPLAY + 1, 10_000)
  t.same(pubOffsets(client.frames), range(1, REPLAY + 1), 'everything missed, in order, then live')
  t.equal(client.closeCode, null)
})

t.test('event stream: a 1,000 × 2 KB rewind arrives whole and in order, then live publications', async (t) => {
  const { app, port } = await bareApp(t, { channels: CHANNELS })
  await fill((c, d) => app.realtime.publish(c, d), REPLAY)
  const stream = await SseClient.open(`http://127.0.0.1:${port}/sse?channels=feed&rewind=${REPLAY}`)
  t.teardown(() => { stream.cut() })
  await stream.waitFor('ack')
  await stream.waitFor('pub', 1, 10_000)
  // Made while the replay is on its way: it arrives after it.
  const live = app.realtime.publish('feed', payload(REPLAY + 1))
  t.ok(stream.ofType('pub').length < REPLAY, `the live publication was made mid-replay (after ${stream.ofType('pub').length})`)
  await live
  await stream.waitFor('pub', REPLAY + 1, 30_000)
  await app.realtime.publish('feed', payload(REPLAY + 2))
  await stream.waitFor('pub', REPLAY + 2, 10_000)
  await sleep(50)
  t.same(pubOffsets(stream.frames), range(1, REPLAY + 2), 'the replay whole and in order, then each live publication once')
  t.notOk(stream.events.some((e) => e.event === 'close'), 'never closed')
})

t.test('event stream: a browser coming back with Last-Event-ID after 1,000 × 2 KB gets them all, in order', async (t) => {
  const { app, port } = await bareApp(t, { channels: CHANNELS })
  const first = await SseClient.open(`http://127.0.0.1:${port}/sse?channels=feed`)
  await first.waitFor('ack')
  const lastEventId = first.lastEventId
  first.cut()
  await first.ended
  await fill((c, d) => app.realtime.publish(c, d), REPLAY)
  const back = await SseClient.open(`http://127.0.0.1:${port}/sse`, { headers: { 'last-event-id': lastEventId } })
  t.teardown(() => { back.cut() })
  const [ack] = await back.waitFor('ack')
  t.match(ack, { channel: 'feed', recovered: true, offset: REPLAY })
  await back.waitFor('pub', REPLAY, 30_000)
  await app.realtime.publish('feed', payload(REPLAY + 1))
  await back.waitFor('pub', REPLAY + 1, 10_000)
  t.same(pubOffsets(back.frames), range(1, REPLAY + 1), 'everything it missed, then live')
  t.notOk(back.events.some((e) => e.event === 'close'), 'never closed')
})

t.test('a client that stops reading mid-replay is cut with 4008, holding at most the budget plus one frame', async (t) => {
  const budget = 256 * 1024
  const connections: ConnectionInfo[] = []
  const { app, ws, logs } = await bareApp(t, { channels: CHANNELS, maxBufferedBytes: budget, onConnection: (c) => { connections.push(c) } })
  // 1,000 × 16 KB: more than loopback's socket buffers absorb, so the replay really stalls.
  await fill((c, d) => app.realtime.publish(c, d), REPLAY, 16_000)
  const client = await connect(`${ws}/ws`)
  t.teardown(() => client.socket.terminate())
  await client.waitFor('welcome')
  const server = connections[0] as WebSocketConnection
  client.socket.on('message', () => { if (client.ofType('pub').length === 20) client.socket.pause() })
  send(client, { type: 'sub', channel: 'feed', rewind: REPLAY, id: 1 })
  await client.waitFor('pub', 20, 10_000)
  // What the server holds for it while it does not read: the socket's unsent bytes.
  let peak = 0
  let frameBytes = 0
  // 200 × 16 KB is over twelve times the budget: the cut must come well before.
  for (let i = 1; logs.withMessage('slow consumer: closing').length === 0 && i <= 200; i++) {
    peak = Math.max(peak, server.socket.bufferedAmount)
    const published = payload(REPLAY + i, 16_000)
    frameBytes = Math.max(frameBytes, JSON.stringify(published).length + 200)
    await app.realtime.publish('feed', published)
    if (i % 16 === 0) await sleep(1)
  }
  const [line] = logs.withMessage('slow consumer: closing')
  if (line === undefined) {
    t.fail('the client was never cut, though live publications kept queueing behind its stalled replay')
    return
  }
  t.pass('the client was cut as a slow consumer once live publications passed the budget behind the stalled replay')
  t.ok(peak <= budget + frameBytes, `its socket held at most the budget plus one frame (peak ${peak} B, budget ${budget} B)`)
  t.ok(Number(line.bufferedBytes) <= budget + frameBytes, `and at the cut (${String(line.bufferedBytes)} B in the socket)`)
  t.ok(Number(line.queuedBytes) <= budget, `the live publications queued behind the replay stayed within the budget (${String(line.queuedBytes)} B)`)
  client.socket.resume()
  const { code, reason } = await client.closed
  t.equal(code, 4008)
  t.equal(reason, 'slow consumer')
  const got = pubOffsets(client.frames)
  t.ok(got.length < REPLAY, `it got part of the replay (${got.length})`)
  t.same(got, range(1, got.length), 'what it got is in order, with no gap')
})

t.test('event stream: a client that stops reading mid-replay is cut with 4008, holding at most the budget plus one frame', async (t) => {
  const budget = 256 * 1024
  const connections: ConnectionInfo[] = []
  const { app, port, logs } = await bareApp(t, { channels: CHANNELS, maxBufferedBytes: budget, onConnection: (c) => { connections.push(c) } })
  await fill((c, d) => app.realtime.publish(c, d), REPLAY, 16_000)
  const stream = await SseClient.open(`http://127.0.0.1:${port}/sse?channels=feed&rewind=${REPLAY}`)
  t.teardown(() => { stream.cut() })
  await stream.waitFor('pub', 1, 10_000)
  stream.pause()
  const server = connections[0] as Connection
  let peak = 0
  for (let i = 1; logs.withMessage('slow consumer: closing').length === 0 && i <= 200; i++) {
    peak = Math.max(peak, server.bufferedBytes)
    await app.realtime.publish('feed', payload(REPLAY + i, 16_000))
    if (i % 16 === 0) await sleep(1)
  }
  const [line] = logs.withMessage('slow consumer: closing')
  if (line === undefined) {
    t.fail('the stream was never cut, though live publications kept queueing behind its stalled replay')
    return
  }
  const frameBytes = 16_400
  t.ok(peak <= budget + frameBytes, `its response held at most the budget plus one event (peak ${peak} B)`)
  t.ok(Number(line.queuedBytes) <= budget, `the live publications queued behind the replay stayed within the budget (${String(line.queuedBytes)} B)`)
  stream.resume()
  await stream.ended
  const close = stream.events.find((e) => e.event === 'close')
  t.match(JSON.parse(close?.data ?? '{}'), { code: 4008, reason: 'slow consumer' }, 'a close event with 4008')
  const got = pubOffsets(stream.frames)
  t.ok(got.length < REPLAY, `it got part of the replay (${got.length})`)
  t.same(got, range(1, got.length), 'in order, with no gap')
})

t.test('a client that stops reading mid-replay while nothing is published is cut by the heartbeat, its socket within the budget', async (t) => {
  const budget = 256 * 1024
  const connections: ConnectionInfo[] = []
  const { app, ws } = await bareApp(t, { channels: CHANNELS, maxBufferedBytes: budget, heartbeatIntervalMs: 300, heartbeatTimeoutMs: 300, onConnection: (c) => { connections.push(c) } })
  await fill((c, d) => app.realtime.publish(c, d), REPLAY, 16_000)
  const client = await connect(`${ws}/ws`)
  t.teardown(() => client.socket.terminate())
  await client.waitFor('welcome')
  const server = connections[0] as WebSocketConnection
  client.socket.on('message', () => { if (client.ofType('pub').length === 20) client.socket.pause() })
  send(client, { type: 'sub', channel: 'feed', rewind: REPLAY, id: 1 })
  await client.waitFor('pub', 20, 10_000)
  let peak = 0
  const started = Date.now()
  while (!server.closed && Date.now() - started < 10_000) {
    peak = Math.max(peak, server.socket.bufferedAmount)
    await sleep(20)
  }
  if (!server.closed) {
    t.fail('the server still holds a client that stopped reading 10 s ago')
    return
  }
  t.pass(`the server let go of it (${Date.now() - started} ms after it stopped reading)`)
  t.ok(peak <= budget + 16_200, `its socket held at most the budget plus one frame meanwhile (peak ${peak} B)`)
  client.socket.resume()
  const { code } = await client.closed
  t.equal(code, 1006, 'terminated as a dead peer')
  t.ok(client.ofType('pub').length < REPLAY, `it got part of the replay (${client.ofType('pub').length})`)
})

t.test('a 100-publication burst in one turn reaches a subscriber in another process whole under a 16 KiB budget', async (t) => {
  const { app, ws } = await bareApp(t, { channels: CHANNELS, maxBufferedBytes: 16_384 })
  const subscriber = startSubscriber(t, `${ws}/ws`, { type: 'sub', channel: 'feed', id: 1 })
  await subscriber.waitFor('ack')
  // 100 publications of ~630 bytes in one turn: 4 times the budget, all corked before the kernel sees any.
  const data = (i: number): { i: number, text: string } => ({ i, text: `${i}:`.padEnd(600, 'y') })
  await Promise.all(Array.from({ length: 100 }, async (_, i) => await app.realtime.publish('feed', data(i + 1))))
  await subscriber.waitFor('pub', 100, 20_000)
  t.same(subscriber.frames.filter((f) => f.type === 'pub').map((f) => f.offset), range(1, 100), 'all 100, in order')
  await app.realtime.publish('feed', data(101))
  await subscriber.waitFor('pub', 101, 10_000)
  t.notOk(subscriber.frames.some((f) => f.type === 'close'), 'never cut')
})

t.test('an HTTP batch of 100 publications reaches a subscriber in another process whole under a 16 KiB budget', async (t) => {
  const key = 'k'.repeat(48)
  const { http, ws } = await bareApp(t, { channels: CHANNELS, maxBufferedBytes: 16_384, api: { prefix: '/api', keys: [{ key }], maxBatch: 100 } })
  const subscriber = startSubscriber(t, `${ws}/ws`, { type: 'sub', channel: 'feed', id: 1 })
  await subscriber.waitFor('ack')
  const publications = Array.from({ length: 100 }, (_, i) => ({ channel: 'feed', data: { i: i + 1, text: `${i + 1}:`.padEnd(600, 'z') } }))
  const response = await fetch(`${http}/api/publish/batch`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ publications }) })
  t.equal(response.status, 200, 'the batch is accepted')
  await subscriber.waitFor('pub', 100, 20_000)
  t.same(subscriber.frames.filter((f) => f.type === 'pub').map((f) => f.offset), range(1, 100), 'all 100, in order')
  t.notOk(subscriber.frames.some((f) => f.type === 'close'), 'never cut')
})
