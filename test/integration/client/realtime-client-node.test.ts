/**
 * The browser client (src/client, published as fastify-realtime/client; the page loads its build) run in
 * Node against a real server, with `ws` injected as its WebSocket class.
 */
import { createServer, connect, type Socket } from 'node:net'
import t from 'tap'
import WebSocket from 'ws'
import type { RealtimePluginOptions } from '../../../src/index.js'
import type { Connection } from '../../../src/node/connection.js'
import { RealtimeClient, type Subscribed, type StatusChange } from '../../../src/client/index.js'
import type { TestLike } from '../../helpers/app.js'
import { channelsApp } from '../../helpers/channels-app.js'
import { sleep } from '../../helpers/ws-client.js'

async function until (predicate: () => boolean, what: string, timeoutMs = 8000): Promise<void> {
  const started = Date.now()
  while (!predicate()) {
    if (Date.now() - started > timeoutMs) throw new Error(`${what} not seen within ${timeoutMs} ms`)
    await sleep(10)
  }
}

function track (client: RealtimeClient): StatusChange[] {
  const statuses: StatusChange[] = []
  client.on('status', (change) => statuses.push(change))
  return statuses
}

/** Plugin options that collect the server side of every connection, and the open ones so far. */
function serverSide (): { options: RealtimePluginOptions, open: () => Connection[] } {
  const connections: Connection[] = []
  return {
    // The hook is typed with the public ConnectionInfo; the object is the server's Connection.
    options: { onConnection: (connection) => { connections.push(connection as Connection) } },
    open: () => connections.filter((connection) => connection.isOpen)
  }
}

t.test('connects, subscribes, receives publications in order, publishes with an ack', async (t) => {
  const { app, ws } = await channelsApp(t)
  const client = new RealtimeClient(ws, { WebSocket, autoConnect: false })
  const statuses = track(client)
  client.connect()
  t.teardown(() => client.close())
  const received: unknown[] = []
  const feed = client.subscribe('feed', (data) => received.push(data))
  const subscribed: Subscribed[] = []
  feed.on('subscribed', (event) => subscribed.push(event))
  await until(() => subscribed.length === 1, 'the subscribe ack')
  t.match(subscribed[0], { recovered: false, resumed: false, offset: 0 })
  for (let n = 1; n <= 3; n++) await app.realtime.publish('feed', n)
  await until(() => received.length === 3, 'three publications')
  t.same(received, [1, 2, 3])
  t.same(statuses.map((s) => s.status), ['connecting', 'open'])
  t.same(feed.position, { epoch: subscribed[0]?.epoch, offset: 3 })

  const chat: unknown[] = []
  const chatSubscription = client.subscribe('chat', (data) => chat.push(data))
  // The stream starts after the subscribe ack's offset: wait for it before publishing.
  await new Promise((resolve) => chatSubscription.on('subscribed', resolve))
  const ack = await client.publish('chat', { text: 'hello' })
  t.equal(ack.offset, 1)
  await until(() => chat.length === 1, 'own chat message')
  await t.rejects(client.publish('feed', 'nope'), { code: 'publish_forbidden' })
  const errors: string[] = []
  const admin = client.subscribe('admin')
  admin.on('error', (error) => errors.push(error.code))
  await until(() => errors.length === 1, 'a subscribe error')
  t.same(errors, ['forbidden'])
  t.notOk(client.subscriptions.has('admin'), 'a refused subscription is dropped')
  const ticks: string[] = []
  client.on('welcome', (frame) => ticks.push(frame.type))
  t.equal(client.send('plain text reply'), true, 'plain text, like the tutorial client')
})

t.test('after a dropped connection it reconnects by itself and recovers exactly what it missed', async (t) => {
  const server = serverSide()
  const { app, port } = await channelsApp(t, server.options)
  const door = await frontDoor(t, port)
  const client = new RealtimeClient(door.url, { WebSocket, minRetryMs: 300, maxRetryMs: 1000 })
  t.teardown(() => client.close())
  const statuses = track(client)
  let closedAt = 0
  client.on('status', (change) => { if (change.status === 'reconnecting' && closedAt === 0) closedAt = Date.now() })
  const received: unknown[] = []
  const feed = client.subscribe('feed', (data) => received.push(data))
  const subscribed: Subscribed[] = []
  feed.on('subscribed', (event) => subscribed.push(event))
  await until(() => subscribed.length === 1, 'first ack')
  for (let n = 1; n <= 3; n++) await app.realtime.publish('feed', n)
  await until(() => received.length === 3, 'first three')
  const open = server.open()
  t.equal(open.length, 1, 'one server-side connection')
  for (const connection of open) connection.terminate() // a network drop: no close frame
  await until(() => statuses.some((s) => s.status === 'reconnecting'), 'reconnecting status')
  for (let n = 4; n <= 6; n++) await app.realtime.publish('feed', n) // while it is away
  await until(() => subscribed.length === 2, 'the resubscribe ack')
  await app.realtime.publish('feed', 7)
  await until(() => received.length === 7, 'all seven')
  t.same(received, [1, 2, 3, 4, 5, 6, 7], 'nothing missed, nothing twice, in order')
  t.match(subscribed[1], { recovered: true, resumed: true })
  const reconnecting = statuses.find((s) => s.status === 'reconnecting')
  t.equal(reconnecting?.code, 1006)
  t.ok((reconnecting?.retryInMs ?? 0) >= 150 && (reconnecting?.retryInMs ?? 0) <= 300, 'first retry within [min/2, min]')
  // And it waited that long: from the close it saw to the attempt the front door saw.
  const waited = (door.attempts[1] ?? 0) - closedAt
  t.ok(waited >= (reconnecting?.retryInMs ?? 0) - 25, `it waited its backoff before coming back (${waited} ms for ${reconnecting?.retryInMs ?? 0} ms)`)
})

/**
 * A TCP front door that stays open while the node behind it is replaced: it records when each
 * connection attempt arrives (what a balancer would see) and pipes it to the current node,
 * holding an attempt that arrives between two nodes until the next one listens.
 */
async function frontDoor (t: TestLike, firstPort: number): Promise<{ url: string, attempts: number[], replace: (port: number) => void, between: () => void }> {
  const attempts: number[] = []
  const sockets = new Set<Socket>()
  let backend: Promise<number> = Promise.resolve(firstPort)
  let next: (port: number) => void = () => {}
  const server = createServer((socket) => {
    attempts.push(Date.now())
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => socket.destroy())
    backend.then((port) => {
      if (socket.destroyed) return
      const upstream = connect(port, '127.0.0.1')
      sockets.add(upstream)
      upstream.on('close', () => { sockets.delete(upstream); socket.destroy() })
      upstream.on('error', () => upstream.destroy())
      socket.on('close', () => upstream.destroy())
      socket.pipe(upstream).pipe(socket)
    }, () => socket.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    for (const socket of sockets) socket.destroy()
    await new Promise((resolve) => server.close(resolve))
  })
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('no TCP address')
  return {
    url: `ws://127.0.0.1:${address.port}/ws`,
    attempts,
    // Attempts from now on wait for the next node.
    between: () => { backend = new Promise((resolve) => { next = resolve }) },
    replace: (port) => { next(port) }
  }
}

t.test('a server restart: honours the 1001 retry hint, comes back, and learns the history was lost', async (t) => {
  const first = await channelsApp(t)
  const door = await frontDoor(t, first.port)
  // A small backoff, so a client that ignored the hint would be back within ~50 ms.
  const client = new RealtimeClient(door.url, { WebSocket, minRetryMs: 50, maxRetryMs: 100 })
  t.teardown(() => client.close())
  const statuses = track(client)
  let closedAt = 0
  client.on('status', (change) => { if (change.status === 'reconnecting' && closedAt === 0) closedAt = Date.now() })
  const received: unknown[] = []
  const feed = client.subscribe('feed', (data) => received.push(data))
  const subscribed: Subscribed[] = []
  feed.on('subscribed', (event) => subscribed.push(event))
  await until(() => subscribed.length === 1, 'first ack')
  await first.app.realtime.publish('feed', 'old')
  await until(() => received.length === 1, 'old')
  t.equal(door.attempts.length, 1, 'one connection so far')
  door.between()
  await first.app.close()
  const reconnecting = statuses.find((s) => s.status === 'reconnecting')
  t.equal(reconnecting?.code, 1001)
  const hinted = Number(/retry=(\d+)/.exec(reconnecting?.reason ?? '')?.[1])
  t.ok(hinted >= 500, `the server sent a hint (${hinted} ms)`)
  t.equal(reconnecting?.retryInMs, hinted, 'the client reports it')
  const second = await channelsApp(t)
  door.replace(second.port)
  await until(() => door.attempts.length >= 2, 'the next connection attempt', hinted + 10_000)
  // What the client actually waited: from the close it saw to the attempt the front door saw.
  // Never less than the hint (a timer may run a few ms early against Date.now()); the upper
  // bound only catches a client that waits far longer, and leaves room for a loaded machine.
  const waited = (door.attempts[1] ?? 0) - closedAt
  t.ok(waited >= hinted - 25, `it waited the hint before coming back (${waited} ms for a ${hinted} ms hint)`)
  t.ok(waited < hinted + 5000, `and not much longer (${waited} ms for a ${hinted} ms hint)`)
  await second.app.realtime.publish('feed', 'new')
  await until(() => subscribed.length === 2, 'resubscribed after the restart', 10_000)
  t.match(subscribed[1], { recovered: false, resumed: true })
  t.not(subscribed[1]?.epoch, subscribed[0]?.epoch, 'a new epoch')
  await until(() => received.length === 2, 'the retained publication of the new epoch')
  t.same(received, ['old', 'new'])
})

t.test('terminal close codes (4500–4999) stop reconnecting', async (t) => {
  const server = serverSide()
  const { app, ws } = await channelsApp(t, server.options)
  const client = new RealtimeClient(ws, { WebSocket, minRetryMs: 50, autoConnect: false })
  t.teardown(() => client.close())
  const statuses = track(client)
  client.connect()
  await until(() => client.status === 'open', 'open')
  for (const connection of server.open()) connection.close(4501, 'banned')
  await until(() => client.status === 'closed', 'closed')
  await sleep(300)
  t.same(statuses.map((s) => s.status), ['connecting', 'open', 'closed'])
  t.match(statuses[2], { code: 4501, reason: 'banned' })
  t.equal(app.realtime.connections, 0)
})

t.test('backoff grows exponentially with jitter and is capped', async (t) => {
  const { app, ws } = await channelsApp(t)
  await app.close() // nothing listens any more
  const client = new RealtimeClient(ws, { WebSocket, minRetryMs: 40, maxRetryMs: 160, random: () => 1 })
  t.teardown(() => client.close())
  const statuses = track(client)
  await until(() => statuses.filter((s) => s.status === 'reconnecting').length >= 5, 'five retries')
  client.close()
  t.same(statuses.filter((s) => s.status === 'reconnecting').slice(0, 5).map((s) => s.retryInMs), [40, 80, 160, 160, 160])
  t.equal(client.status, 'closed')
})
