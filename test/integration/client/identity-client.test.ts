/**
 * The client's side of identity and targeting (fastify-realtime/client in Node, `ws` injected):
 * a token provider used at connect and on every `refresh`, so one socket outlives several tokens
 * without reconnecting; a fresh token after a 4401; typed RPC with the server's codes; direct
 * messages; the server's own subscriptions (announced, followed, resubscribed after a reconnect
 * only when the server will not re-add them); and channel tokens for private channels.
 */
import { Type } from '@sinclair/typebox'
import t from 'tap'
import WebSocket from 'ws'
import { RealtimeClient, RealtimeError, type StatusChange, type Subscription } from '../../../src/client/index.js'
import { RpcError } from '../../../src/index.js'
import { bareApp } from '../../helpers/realtime-app.js'
import { epochSec, hsToken, TEST_SECRET } from '../../helpers/tokens.js'
import { sleep } from '../../helpers/ws-client.js'

async function until (predicate: () => boolean, what: string, timeoutMs = 8000): Promise<void> {
  const started = Date.now()
  while (!predicate()) {
    if (Date.now() - started > timeoutMs) throw new Error(`${what} not seen within ${timeoutMs} ms`)
    await sleep(10)
  }
}

t.test('getToken at connect and on refresh: one socket outlives three short tokens; a 4401 brings a fresh token', async (t) => {
  const { app, ws } = await bareApp(t, { jwtSecret: TEST_SECRET, requireAuth: true, tokenRefreshLeadMs: 1000 })
  const issued: number[] = []
  const client = new RealtimeClient(`${ws}/ws`, {
    WebSocket,
    // Each token lives 2–3 s: it must be refreshed twice or more within the test.
    getToken: async () => {
      const exp = epochSec(3)
      issued.push(exp)
      return await hsToken({ sub: 'ann', exp })
    }
  })
  t.teardown(() => client.close())
  const statuses: StatusChange[] = []
  client.on('status', (change) => statuses.push(change))
  await until(() => client.status === 'open', 'open after the server took the token')
  await sleep(6500)
  t.ok(issued.length >= 3, `${issued.length} tokens fetched for one socket`)
  t.same(statuses.map((s) => s.status), ['open'], 'never reconnected')
  t.equal(app.realtime.stats().connectionsTotal, 1, 'one connection on the server')

  // After a 4401 (the expiry close; sent here by the server on demand) the client reconnects and fetches a new token.
  let bobTokens = 0
  const other = new RealtimeClient(`${ws}/ws`, { WebSocket, minRetryMs: 50, maxRetryMs: 100, getToken: async () => { bobTokens++; return await hsToken({ sub: 'bob' }) } })
  t.teardown(() => other.close())
  const otherStatuses: StatusChange[] = []
  other.on('status', (change) => otherStatuses.push(change))
  await until(() => other.status === 'open', 'open')
  await app.realtime.disconnect({ user: 'bob' }, 4401, 'token expired')
  await until(() => otherStatuses.some((s) => s.status === 'reconnecting' && s.code === 4401), 'a 4401 seen as reconnectable')
  await until(() => other.status === 'open', 'open again')
  t.equal(bobTokens, 2, 'with a second token')
})

t.test('rpc: typed results, the server\'s codes, its own timeout', async (t) => {
  const { ws } = await bareApp(t, {
    rpc: {
      add: { schema: Type.Object({ a: Type.Number(), b: Type.Number() }), handler: (data) => { const { a, b } = data as { a: number, b: number }; return { sum: a + b } } },
      reserve: { schema: Type.Unknown(), handler: () => { throw new RpcError('out_of_stock', 'Only 2 left', { left: 2 }) } },
      stall: { schema: Type.Unknown(), handler: async () => { await sleep(1000); return null } }
    }
  })
  const client = new RealtimeClient(`${ws}/ws`, { WebSocket })
  t.teardown(() => client.close())
  await until(() => client.status === 'open', 'open')
  const { sum } = await client.rpc<{ sum: number }>('add', { a: 1, b: 2 })
  t.equal(sum, 3)
  await t.rejects(client.rpc('add', { a: 'x' }), { code: 'invalid_data' })
  const refused = await client.rpc('reserve').catch((error: unknown) => error)
  t.ok(refused instanceof RealtimeError)
  t.match(refused, { code: 'out_of_stock', message: 'Only 2 left', data: { left: 2 } })
  await t.rejects(client.rpc('nope'), { code: 'unknown_method' })
  await t.rejects(client.rpc('stall', null, { timeoutMs: 100 }), { code: 'timeout' }, 'the client gives up at its own timeout')
})

t.test('direct messages, the server\'s subscriptions, and channel tokens', async (t) => {
  const { app, ws } = await bareApp(t, {
    jwtSecret: TEST_SECRET,
    channels: [{ name: 'orders:*', historySize: 100 }, { name: 'inbox:*', historySize: 100 }, { name: 'dm:*', private: true }],
    subscribe: (visitor) => visitor === null ? [] : [`inbox:${visitor.id}`]
  })
  let channelTokens = 0
  const client = new RealtimeClient(`${ws}/ws`, { WebSocket, minRetryMs: 50, maxRetryMs: 100, getToken: async () => await hsToken({ sub: 'ann' }) })
  t.teardown(() => client.close())
  const directs: unknown[] = []
  client.on('direct', (frame) => directs.push(frame.data))
  const announced: Array<Subscription<unknown>> = []
  const received = new Map<string, unknown[]>()
  client.on('subscription', (subscription) => {
    announced.push(subscription)
    subscription.on('publication', (publication) => { received.set(subscription.channel, [...(received.get(subscription.channel) ?? []), publication.data]) })
  })
  await until(() => announced.length === 1, 'the inbox, subscribed at connect')
  t.equal(announced[0]?.channel, 'inbox:ann')
  t.equal(announced[0]?.source, 'connect')

  await app.realtime.sendToUser('ann', { text: 'hi' })
  await until(() => directs.length === 1, 'a direct message')
  t.same(directs, [{ text: 'hi' }])

  await app.realtime.subscribeUser('ann', 'orders:7')
  await until(() => announced.length === 2, 'orders:7 announced')
  t.equal(announced[1]?.source, 'server')
  await app.realtime.publish('orders:7', 1)
  await app.realtime.publish('inbox:ann', 'a')
  await until(() => (received.get('orders:7')?.length ?? 0) === 1 && (received.get('inbox:ann')?.length ?? 0) === 1, 'one of each')

  const dm = client.subscribe('dm:ann', undefined, { token: async () => { channelTokens++; return await hsToken({ sub: 'ann', channel: 'dm:ann' }) } })
  await new Promise((resolve) => dm.once('subscribed', resolve))
  t.equal(channelTokens, 1, 'a private channel, with its grant')

  // Cut the socket (a reconnectable code): orders:7 is resubscribed by the client with since,
  // the inbox is re-added by the server from the position the client brought back (so what was
  // published meanwhile is replayed), the private channel fetches a new grant.
  const resumed: string[] = []
  for (const subscription of client.subscriptions.values()) subscription.on('subscribed', ({ resumed: again, recovered }) => { if (again) resumed.push(`${subscription.channel}:${String(recovered)}`) })
  const errors: RealtimeError[] = []
  client.on('error', (error) => errors.push(error))
  await app.realtime.disconnect({ user: 'ann' }, 4001, 'reconnect please')
  await app.realtime.publish('orders:7', 2)
  await app.realtime.publish('inbox:ann', 'b')
  await until(() => resumed.length === 3, 'three subscriptions back')
  t.same(resumed.sort(), ['dm:ann:true', 'inbox:ann:true', 'orders:7:true'], 'orders:7 recovered by the client; the inbox re-added by the server and recovered too; the dm with a new grant')
  await until(() => (received.get('orders:7')?.length ?? 0) === 2 && (received.get('inbox:ann')?.length ?? 0) === 2, 'the missed publications')
  t.same(received.get('orders:7'), [1, 2], 'nothing missed, nothing twice')
  t.same(received.get('inbox:ann'), ['a', 'b'], 'the server\'s own subscription missed nothing either')
  t.equal(announced.filter((subscription) => subscription.channel === 'inbox:ann').length, 1, 'the same subscription, not a new one')
  t.equal(channelTokens, 2)
  t.same(errors.map((e) => e.code), [], 'no already_subscribed: the client did not resubscribe what the server re-adds')

  await app.realtime.unsubscribeUser('ann', 'orders:7')
  await until(() => !client.subscriptions.has('orders:7'), 'dropped on unsubscribed')
})

t.test('a private channel outlives its grants: at each expiry the client subscribes again with a new token and misses nothing; a fixed token ends with it', async (t) => {
  const { app, ws } = await bareApp(t, { jwtSecret: TEST_SECRET, channels: [{ name: 'dm:*', private: true, historySize: 100 }] })
  const client = new RealtimeClient(`${ws}/ws`, { WebSocket, getToken: async () => await hsToken({ sub: 'ann' }) })
  t.teardown(() => client.close())
  await until(() => client.status === 'open', 'open')
  let grants = 0
  const dm = client.subscribe<number>('dm:ann', undefined, { token: async () => { grants++; return await hsToken({ sub: 'ann', channel: 'dm:ann', exp: epochSec(2) }) } })
  const received: number[] = []
  dm.on('publication', (publication) => { received.push(publication.data) })
  let ended = 0
  dm.on('unsubscribed', () => { ended++ })
  const fixed = client.subscribe('dm:fixed', undefined, { token: await hsToken({ sub: 'ann', channel: 'dm:fixed', exp: epochSec(2) }) })
  let fixedEnded = 0
  fixed.on('unsubscribed', () => { fixedEnded++ })
  await new Promise((resolve) => dm.once('subscribed', resolve))

  // Publish through two or more grant expiries, every 50 ms.
  let n = 0
  const started = Date.now()
  while (Date.now() - started < 5000) {
    await app.realtime.publish('dm:ann', ++n)
    await sleep(50)
  }
  await until(() => received.length === n, `all ${n} publications`)
  t.ok(grants >= 3, `${grants} grants fetched for one subscription`)
  t.same(received, Array.from({ length: n }, (_, i) => i + 1), 'every publication once, in order, across the expiries')
  t.equal(ended, 0, 'the subscription never ended for the app')
  t.equal(fixedEnded, 1, 'a fixed token cannot be renewed: its subscription ends with it')
  t.notOk(client.subscriptions.has('dm:fixed'))
})
