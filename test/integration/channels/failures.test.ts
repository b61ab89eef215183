import t from 'tap'
import { MemoryAdapter, noopMetrics, type RealtimeAdapter, type RealtimeMetrics } from '../../../src/index.js'
import { answer, channelsApp, send } from '../../helpers/channels-app.js'
import { connect, sleep } from '../../helpers/ws-client.js'

/** A memory adapter whose operations can be switched to fail, as when Redis is unreachable. */
function flakyAdapter (): { adapter: RealtimeAdapter, failing: Set<string> } {
  const inner = new MemoryAdapter()
  const failing = new Set<string>()
  const guard = (operation: string): void => { if (failing.has(operation)) throw new Error(`${operation} unavailable`) }
  const adapter: RealtimeAdapter = {
    name: 'flaky',
    init: async (handler) => { await inner.init(handler) },
    publish: async (channel, data, options) => { guard('publish'); return await inner.publish(channel, data, options) },
    subscribe: async (channel) => { guard('subscribe'); await inner.subscribe(channel) },
    unsubscribe: async (channel) => { await inner.unsubscribe(channel) },
    since: async (channel, position) => { guard('since'); return await inner.since(channel, position) },
    recent: async (channel, limit) => { guard('since'); return await inner.recent(channel, limit) },
    presenceAdd: async (channel, entry, ttlMs) => { await inner.presenceAdd(channel, entry, ttlMs) },
    presenceRemove: async (channel, clientId) => { await inner.presenceRemove(channel, clientId) },
    presence: async (channel) => await inner.presence(channel),
    control: async (message) => { await inner.control(message) },
    stateSet: async (key, value, ttlMs) => { await inner.stateSet(key, value, ttlMs) },
    stateClaim: async (key, value, ttlMs) => await inner.stateClaim(key, value, ttlMs),
    stateGet: async (key) => await inner.stateGet(key),
    stateDelete: async (key) => { await inner.stateDelete(key) },
    close: async () => { await inner.close() }
  }
  return { adapter, failing }
}

t.test('adapter failures are answered with error frames carrying the id, counted, and recoverable', async (t) => {
  const { adapter, failing } = flakyAdapter()
  const adapterErrors: string[] = []
  const metrics: RealtimeMetrics = { ...noopMetrics, adapterError: (operation) => { adapterErrors.push(operation) } }
  const { app, ws } = await channelsApp(t, { adapter, metrics })
  const client = await connect(ws)
  t.teardown(() => client.close())

  failing.add('subscribe')
  send(client, { type: 'sub', channel: 'chat', id: 1 })
  t.match(await answer(client, 1), { type: 'error', code: 'subscribe_failed', id: 1 })
  failing.delete('subscribe')
  send(client, { type: 'sub', channel: 'chat', id: 2 })
  t.match(await answer(client, 2), { type: 'ack', channel: 'chat' }, 'a later subscribe works again')

  failing.add('publish')
  send(client, { type: 'pub', channel: 'chat', data: 'lost?', id: 3 })
  t.match(await answer(client, 3), { type: 'error', code: 'publish_failed', id: 3 })
  await t.rejects(app.realtime.publish('chat', 'server side'), /publish unavailable/, 'the server API rejects too')
  failing.delete('publish')
  send(client, { type: 'pub', channel: 'chat', data: 'ok', id: 4 })
  t.match(await answer(client, 4), { type: 'ack', offset: 1 })
  t.same(adapterErrors, ['subscribe', 'publish', 'publish'], 'each failure reaches the metrics seam')
  t.equal(client.socket.readyState, client.socket.OPEN, 'the connection stays up')
})

t.test('an unsubscribe before the subscribe completes cancels it cleanly', async (t) => {
  const { app, ws } = await channelsApp(t)
  const client = await connect(ws, { headers: { 'x-visitor': 'v-1' } })
  t.teardown(() => client.close())
  send(client, { type: 'sub', channel: 'slow-gate', id: 1 })
  send(client, { type: 'unsub', channel: 'slow-gate', id: 2 })
  t.match(await answer(client, 2), { type: 'ack' })
  t.match(await answer(client, 1), { type: 'error', code: 'cancelled', id: 1 })
  await app.realtime.publish('slow-gate', 'x')
  await sleep(50)
  t.equal(client.ofType('pub').length, 0, 'nothing delivered to a cancelled subscription')
  send(client, { type: 'sub', channel: 'slow-gate', id: 3 })
  t.match(await answer(client, 3), { type: 'ack' }, 'and it can subscribe again')
})
