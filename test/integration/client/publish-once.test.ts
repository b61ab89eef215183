/**
 * The client's publishes survive a dropped connection without being published twice: each carries
 * a random idempotency key, and one whose ack was lost with the socket is sent again with the same
 * key after the reconnect. Real server, the client in Node with `ws`, a socket cut by the server
 * right after the publication happened and before its ack could leave.
 */
import t from 'tap'
import WebSocket from 'ws'
import { MemoryAdapter, type Publication, type PublishOptions } from '../../../src/index.js'
import type { Connection } from '../../../src/node/connection.js'
import { RealtimeClient, type StatusChange } from '../../../src/client/index.js'
import type { AckFrame } from '../../../src/client/frames.js'
import { answer, channelsApp, send } from '../../helpers/channels-app.js'
import type { TestLike } from '../../helpers/app.js'
import { connect, sleep } from '../../helpers/ws-client.js'

async function until (predicate: () => boolean, what: string, timeoutMs = 8000): Promise<void> {
  const started = Date.now()
  while (!predicate()) {
    if (Date.now() - started > timeoutMs) throw new Error(`${what} not seen within ${timeoutMs} ms`)
    await sleep(10)
  }
}

/** A memory adapter that can run something right after a publication is stored (before the ack). */
class CuttingAdapter extends MemoryAdapter {
  afterPublish: (() => void) | null = null

  override async publish (channel: string, data: unknown, options: PublishOptions): Promise<Publication> {
    const publication = await super.publish(channel, data, options)
    const after = this.afterPublish
    this.afterPublish = null
    after?.()
    return publication
  }
}

/** An app whose anonymous sockets (the client's) can be cut; the watcher has a visitor. */
async function setup (t: TestLike): Promise<{ adapter: CuttingAdapter, ws: string, cutClients: () => void, watched: () => unknown[] }> {
  const adapter = new CuttingAdapter()
  const connections: Connection[] = []
  const { ws } = await channelsApp(t, { adapter, onConnection: (connection) => { connections.push(connection as Connection) } })
  const watcher = await connect(ws, { headers: { 'x-visitor': 'watcher' } })
  t.teardown(() => watcher.close())
  send(watcher, { type: 'sub', channel: 'chat', id: 'w' })
  await answer(watcher, 'w')
  return {
    adapter,
    ws,
    cutClients: () => { for (const connection of connections) if (connection.visitor === null && connection.isOpen) connection.terminate() },
    watched: () => watcher.frames.filter((f) => f.type === 'pub' && f.channel === 'chat').map((f) => f.data)
  }
}

t.test('a publish whose ack was lost with the socket is sent again after the reconnect and published once', async (t) => {
  const { adapter, ws, cutClients, watched } = await setup(t)
  const client = new RealtimeClient(ws, { WebSocket, minRetryMs: 100, maxRetryMs: 200 })
  t.teardown(() => client.close())
  const statuses: StatusChange[] = []
  client.on('status', (change) => statuses.push(change))
  const acks: AckFrame[] = []
  // The acks of publishes (the reconnect's `resume` is answered by an ack too, with `resumed`).
  client.on('message', (frame) => { if (frame.type === 'ack' && frame.resumed === undefined) acks.push(frame) })
  await until(() => client.status === 'open', 'open')

  adapter.afterPublish = cutClients
  const result = await client.publish('chat', { text: 'once' })
  t.equal(result.offset, 1, 'the publish resolves with the one publication\'s position')
  t.ok(statuses.some((change) => change.status === 'reconnecting'), 'the socket was cut and the client reconnected')
  t.match(acks, [{ offset: 1, duplicate: true }], 'the only ack that arrived answered the resend, as a duplicate')
  await sleep(100)
  t.same(watched(), [{ text: 'once' }], 'subscribers saw it once')

  // Without a lost ack nothing changes: each publish is its own publication.
  t.equal((await client.publish('chat', { text: 'once' })).offset, 2)
  await until(() => watched().length === 2, 'the second publication')
})

t.test('a publish made while reconnecting waits for the connection, in order with the others', async (t) => {
  const { ws, cutClients, watched } = await setup(t)
  const client = new RealtimeClient(ws, { WebSocket, minRetryMs: 200, maxRetryMs: 300 })
  t.teardown(() => client.close())
  await until(() => client.status === 'open', 'open')
  cutClients()
  await until(() => client.status === 'reconnecting', 'reconnecting')
  const results = await Promise.all([client.publish('chat', 'a'), client.publish('chat', 'b')])
  t.same(results.map((r) => r.offset), [1, 2])
  await until(() => watched().length === 2, 'two publications')
  t.same(watched(), ['a', 'b'])
})

t.test('a publish fails with timeout after publishRetryMs without a connection, and with disconnected on close()', async (t) => {
  const nowhere = new RealtimeClient('ws://127.0.0.1:9/ws', { WebSocket, minRetryMs: 50, maxRetryMs: 100, publishRetryMs: 400 })
  t.teardown(() => nowhere.close())
  const started = Date.now()
  await t.rejects(nowhere.publish('chat', 'lost'), { code: 'timeout' })
  t.ok(Date.now() - started >= 350, 'it waited publishRetryMs')

  const pending = nowhere.publish('chat', 'dropped')
  nowhere.close()
  await t.rejects(pending, { code: 'disconnected' })
  await t.rejects(nowhere.publish('chat', 'after'), { code: 'disconnected' }, 'a closed client publishes nothing')
})

t.test('a server refusal is final: not resent', async (t) => {
  const { ws } = await setup(t)
  const client = new RealtimeClient(ws, { WebSocket })
  t.teardown(() => client.close())
  const sent: string[] = []
  client.on('message', (frame) => { if (frame.type === 'error') sent.push(frame.code) })
  await t.rejects(client.publish('feed', 'x'), { code: 'publish_forbidden' })
  await sleep(200)
  t.same(sent, ['publish_forbidden'], 'one refusal, no retry')
})
