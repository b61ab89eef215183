/**
 * fastify-realtime/client in Node with a WHATWG EventSource (the `eventsource` package): when
 * WebSocket upgrades are refused (as a proxy that blocks them does) it falls back to the event
 * stream by itself, with the same API (subscribe, publish, presence); when WebSockets work again
 * it moves back, without missing or repeating a publication. On a WebSocket it reconnects with its
 * resume token, which brings its identity back.
 */
import { EventSource } from 'eventsource'
import t from 'tap'
import WebSocket from 'ws'
import { RealtimeClient, type StatusChange } from '../../../src/client/index.js'
import Fastify from 'fastify'
import realtime, { type ConnectionInfo } from '../../../src/index.js'
import { listen } from '../../helpers/app.js'
import { channelsApp, TEST_CHANNELS } from '../../helpers/channels-app.js'
import { sleep } from '../../helpers/ws-client.js'

async function until (condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const started = Date.now()
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`)
    await sleep(10)
  }
}

t.test('WebSockets refused: the client falls back to the event stream, and moves back when they work', async (t) => {
  let blocked = true
  // undici (the eventsource package's fetch) may leave a connection that never sends a request;
  // Node would wait for it until its headers timeout. The server under test is not the point.
  const app = Fastify({ logger: false, forceCloseConnections: true })
  // A proxy in front that refuses every upgrade while `blocked`.
  app.addHook('onRequest', (request, reply, done) => {
    if (request.headers.upgrade === undefined || !blocked) {
      done()
      return
    }
    reply.code(403).send({ error: 'upgrades blocked here' })
    // As a proxy does: the refused upgrade's connection is closed.
    setImmediate(() => { request.raw.socket.destroy() })
  })
  await app.register(realtime, { tickIntervalMs: 0, channels: TEST_CHANNELS })
  t.teardown(() => app.close())
  const { ws, port } = await listen(app)
  const statuses: StatusChange[] = []
  const client = new RealtimeClient(`${ws}/ws`, { WebSocket, EventSource, minRetryMs: 20, maxRetryMs: 200, webSocketRetryMs: 400 })
  t.teardown(() => { client.close() })
  client.on('status', (change) => statuses.push(change))
  const received: number[] = []
  const feed = client.subscribe<{ i: number }>('feed', (data) => { received.push(data.i) })
  const chat = client.subscribe<{ text: string }>('chat')
  await until(() => client.status === 'open', 'the client to open')
  t.equal(client.transport, 'sse', 'after the refused upgrades it travels on the event stream')
  t.same(statuses.filter((s) => s.status === 'open').map((s) => s.transport), ['sse'])
  t.equal(new URL(`http://127.0.0.1:${port}/sse`).pathname, '/sse')
  await new Promise((resolve) => feed.once('subscribed', resolve))

  for (let i = 1; i <= 3; i++) await app.realtime.publish('feed', { i })
  await until(() => received.length === 3, 'publications on the stream')
  const echo = new Promise<string>((resolve) => chat.once('publication', (publication) => { resolve(publication.data.text) }))
  const landed = await client.publish('chat', { text: 'over a POST' })
  t.match(landed, { offset: 1 }, 'publish resolves with its ack, which came on the stream')
  t.equal(await echo, 'over a POST')
  t.ok(client.send('plain text'), 'plain text goes too')

  // WebSockets work again: the next probe finds out, and the client moves.
  blocked = false
  const publishing = { on: true }
  const publisher = (async () => {
    for (let i = 4; publishing.on && i < 200; i++) {
      await app.realtime.publish('feed', { i })
      await sleep(10)
    }
  })()
  await until(() => client.transport === 'websocket' && client.status === 'open', 'the move back to a WebSocket')
  await sleep(100)
  publishing.on = false
  await publisher
  const last = (await app.realtime.publish('feed', { i: 1000 })).offset
  await until(() => received.at(-1) === 1000, 'the last publication')
  t.ok(last > 10, `publications kept flowing during the move (${last})`)
  t.same(received, [...received].sort((a, b) => a - b), 'in order')
  t.equal(new Set(received).size, received.length, 'nothing twice')
  t.equal(received.length, last, 'nothing missed')
  t.same(statuses.filter((s) => s.status === 'open').map((s) => s.transport), ['sse', 'websocket'])
  client.close()
  await until(() => app.realtime.connections === 0, 'the last connection to close')
  t.match(app.realtime.resources(), { connections: 0, streams: 0, relayedPosts: 0, slots: 0 }, 'nothing is left behind')
})

t.test('on a WebSocket the client reconnects with its resume token: the identity comes back with it', async (t) => {
  const connections: ConnectionInfo[] = []
  const { ws } = await channelsApp(t, { onConnection: (connection) => { connections.push(connection) } })
  // Only the first connection carries the visitor header (as a short-lived credential would).
  let first = true
  class OnceIdentified extends WebSocket {
    constructor (url: string) {
      super(url, first ? { headers: { 'x-visitor': 'ann' } } : {})
      first = false
    }
  }
  const urls: string[] = []
  const sent: string[] = []
  const client = new RealtimeClient(ws, {
    WebSocket: class extends OnceIdentified {
      constructor (url: string) { urls.push(url); super(url) }
      override send (data: string): void { sent.push(data); super.send(data) }
    },
    minRetryMs: 20,
    sse: false
  })
  t.teardown(() => { client.close() })
  const visitors: Array<string | null> = []
  const resumed: Array<{ resumed: boolean, visitor: string | null }> = []
  client.on('welcome', (welcome) => { visitors.push(welcome.visitor) })
  client.on('resumed', (answer) => { resumed.push(answer) })
  await until(() => visitors.length === 1, 'the first welcome')
  connections[0]?.terminate()
  await until(() => resumed.length === 1, 'the answer to the resume after the reconnect')
  t.same(resumed, [{ resumed: true, visitor: 'ann' }], 'the resumed connection is Ann\'s again')
  t.equal(connections[1]?.visitor?.id, 'ann', 'on the server too')
  t.same(urls, [ws, ws], 'no token in any URL')
  t.match(JSON.parse(sent[0] ?? '{}'), { type: 'resume', channels: [] }, 'the token travels in the first message, with an empty channel list: the client resumes its own subscriptions')
})
