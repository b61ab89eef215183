/**
 * Recovery across a Redis-backed pair of nodes, with no sticky sessions: a plain WebSocket (no
 * library) resumes with its token (in its first message, a `resume` frame) on the OTHER node and gets exactly the missed publications of
 * all its channels; an event stream's POST that lands on the other node acts on its stream; a
 * browser's Last-Event-ID resumes every channel on the other node, a cursor id included; a token
 * presented on one node takes over the old socket still open on the other; one token presented
 * on both nodes at once is honoured by exactly one.
 */
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import type { ConnectionInfo } from '../../src/index.js'
import { RedisAdapter } from '../../src/adapters/redis/index.js'
import type { TestLike } from '../helpers/app.js'
import { channelsApp, offsets, send, TEST_CHANNELS } from '../helpers/channels-app.js'
import { TestRedisServer } from '../helpers/redis-server.js'
import { SseClient } from '../helpers/sse-client.js'
import { channelAcks, connect, resumeAnswer, resumeWith, sleep, type Frame, type RecordingClient } from '../helpers/ws-client.js'

const SECRET = 'a-resume-secret-shared-by-both-nodes-0123456789'

interface Node {
  app: FastifyInstance
  ws: string
  port: number
  connections: ConnectionInfo[]
}

async function pair (t: TestLike): Promise<[Node, Node]> {
  const redis = await TestRedisServer.start()
  t.teardown(() => redis.destroy())
  const start = async (): Promise<Node> => {
    const connections: ConnectionInfo[] = []
    const node = await channelsApp(t, {
      adapter: new RedisAdapter({ url: redis.url, keyPrefix: 'pair:' }),
      resumeSecret: SECRET,
      maxSubscriptionsPerConnection: 64,
      channels: [...TEST_CHANNELS, { name: 'long:*', historySize: 100 }],
      onConnection: (connection) => { connections.push(connection) }
    })
    return { ...node, connections }
  }
  return [await start(), await start()]
}

const pubs = (frames: Frame[], channel: string): number[] => frames.filter((f) => f.type === 'pub' && f.channel === channel).map((f) => f.offset as number)

t.test('a plain WebSocket resumes with its token on the other node: exactly what it missed, on every channel', async (t) => {
  const [a, b] = await pair(t)
  const client = await connect(a.ws, { headers: { 'x-visitor': 'ann' } })
  const [welcome] = await client.waitFor('welcome')
  for (const [i, channel] of ['feed', 'quiet', 'chat'].entries()) send(client, { type: 'sub', channel, id: i })
  await client.waitFor('ack', 3)
  await a.app.realtime.publish('feed', 1)
  await b.app.realtime.publish('quiet', 2)
  await client.waitFor('pub', 2)
  // Node A cuts the socket (as a crash of the connection would, seen from the server).
  a.connections[0]?.terminate()
  await client.closed
  for (let i = 0; i < 4; i++) await b.app.realtime.publish('feed', i)
  await a.app.realtime.publish('quiet', 'missed')
  await b.app.realtime.publish('chat', { text: 'missed' })

  const again = await resumeWith(b.ws, String(welcome?.resume))
  t.teardown(() => again.socket.terminate())
  t.match(await resumeAnswer(again), { type: 'ack', resumed: true, visitor: 'ann' }, 'node B honours node A\'s token, identity included')
  await again.waitFor('ack', 4)
  const acks = channelAcks(again)
  t.equal(acks.length, 3)
  t.ok(acks.every((ack) => ack.recovered === true), 'every channel recovered')
  await again.waitFor('pub', 6)
  await sleep(100)
  t.same(offsets(again, 'feed'), [2, 3, 4, 5])
  t.same(offsets(again, 'quiet'), [2])
  t.same(offsets(again, 'chat'), [1])
  t.same([...offsets(client, 'feed'), ...offsets(again, 'feed')], [1, 2, 3, 4, 5], 'nothing missed, nothing twice')
})

t.test('a token presented on one node takes over the socket still open on the other', async (t) => {
  const [a, b] = await pair(t)
  const old = await connect(a.ws)
  const [welcome] = await old.waitFor('welcome')
  send(old, { type: 'sub', channel: 'feed', id: 1 })
  await old.waitFor('ack')
  await a.app.realtime.publish('feed', 'seen')
  await old.waitFor('pub')
  const fresh = await resumeWith(b.ws, String(welcome?.resume))
  t.teardown(() => fresh.socket.terminate())
  t.match(await resumeAnswer(fresh), { resumed: true })
  await old.closed
  t.equal(old.closeCode, 1006, 'node A cut the old socket')
  await b.app.realtime.publish('feed', 'live')
  await fresh.waitFor('pub')
  t.same(offsets(fresh, 'feed'), [2], 'the new one resumes right after what the old one had')
})

t.test('one token presented on both nodes at once is honoured by exactly one; the other is refused', async (t) => {
  const [a, b] = await pair(t)
  for (let round = 0; round < 5; round++) {
    const first = await connect(a.ws, { headers: { 'x-visitor': 'ann' } })
    const [welcome] = await first.waitFor('welcome')
    send(first, { type: 'sub', channel: 'feed', id: 1 })
    await first.waitFor('ack')
    const token = String(welcome?.resume)
    // Presented on both nodes in the same turn, while the old socket is still open on A.
    const [onA, onB] = await Promise.all([resumeWith(a.ws, token), resumeWith(b.ws, token)])
    const answers = await Promise.all([resumeAnswer(onA, 5000), resumeAnswer(onB, 5000)])
    t.same(answers.map((answer) => answer.type === 'ack' && answer.resumed === true).filter(Boolean).length, 1, `round ${round}: exactly one honours it`)
    t.same(answers.filter((answer) => answer.code === 'resume_token_used').length, 1, 'the other is refused as used')
    await first.closed
    const loser = answers[0]?.type === 'error' ? onA : onB
    t.same(channelAcks(loser), [], 'and gets none of its channels')
    for (const client of [onA, onB]) client.socket.terminate()
  }
})

t.test('an event stream on node A, its POSTs landing on node B, its reconnect on node B', async (t) => {
  const [a, b] = await pair(t)
  const names = Array.from({ length: 16 }, (_, i) => `long:${'x'.repeat(40)}${i}`)
  const stream = await SseClient.open(`http://127.0.0.1:${a.port}/sse?channels=feed,chat`, { headers: { 'x-visitor': 'ann' } })
  await stream.waitFor('ack', 2)
  const onB = (message: unknown, key = stream.key): Promise<Response> => fetch(`http://127.0.0.1:${b.port}/sse`, {
    method: 'POST', headers: { 'content-type': 'application/json', 'realtime-stream': key }, body: JSON.stringify(message)
  })
  t.equal((await onB({ type: 'pub', channel: 'chat', data: { text: 'via B' }, id: 'p' })).status, 202, 'node B relayed the POST to node A')
  await stream.frame((f) => f.type === 'ack' && f.id === 'p')
  await stream.frame((f) => f.type === 'pub' && f.channel === 'chat')
  for (const name of names) t.equal((await onB({ type: 'sub', channel: name })).status, 202)
  await stream.waitFor('ack', 3 + names.length)
  await b.app.realtime.publish('feed', 1)
  await stream.waitFor('pub', 2)
  t.match(stream.lastEventId, /^~/, 'with 18 channels the id names a cursor kept in Redis')
  stream.cut()
  await stream.ended
  const missing = await onB({ type: 'sub', channel: 'feed' })
  t.equal(missing.status, 404, 'a POST for a stream that ended is refused, wherever it lands')
  t.match(await missing.json(), { code: 'FRT_STREAM_NOT_FOUND' })

  await a.app.realtime.publish('feed', 2)
  await a.app.realtime.publish(names[7] ?? '', 'missed')
  await b.app.realtime.publish('chat', { text: 'missed' })
  const resumed = await SseClient.open(`http://127.0.0.1:${b.port}/sse?channels=feed,chat`, { headers: { 'last-event-id': stream.lastEventId, 'x-visitor': 'ann' } })
  t.teardown(() => { resumed.cut() })
  const acks = await resumed.waitFor('ack', 2 + names.length)
  t.ok(acks.every((ack) => ack.recovered === true), 'node B resumed every channel from the cursor node A stored')
  await resumed.waitFor('pub', 3)
  const all = [...stream.frames, ...resumed.frames]
  t.same(pubs(all, 'feed'), [1, 2])
  t.same(pubs(all, 'chat'), [1, 2])
  t.same(pubs(all, names[7] ?? ''), [1])
  await b.app.realtime.publish('feed', 3)
  await resumed.frame((f) => f.type === 'pub' && f.offset === 3)
})

t.test('POST relay bookkeeping is released; a wrong key is refused across nodes too', async (t) => {
  const [a, b] = await pair(t)
  const stream = await SseClient.open(`http://127.0.0.1:${a.port}/sse`)
  t.teardown(() => { stream.cut() })
  await stream.waitFor('welcome')
  const [tag, id] = stream.key.split('.')
  const wrong = await fetch(`http://127.0.0.1:${b.port}/sse`, { method: 'POST', headers: { 'content-type': 'text/plain', 'realtime-stream': `${tag ?? ''}.${id ?? ''}.wrongsecret` }, body: 'hi' })
  t.equal(wrong.status, 404)
  t.match(b.app.realtime.resources(), { relayedPosts: 0 })
  const wait = (client: RecordingClient | SseClient): Promise<unknown> => client instanceof SseClient ? client.ended : client.closed
  stream.cut()
  await wait(stream)
  while (a.app.realtime.connections > 0) await sleep(5)
  t.match(a.app.realtime.resources(), { streams: 0, relayedPosts: 0, connections: 0 })
})
