/**
 * Several Redis adapters (one per node) on one private redis-server: fan-out across nodes,
 * presence of a node that dies, and what happens while Redis is down and after it comes back.
 */
import t from 'tap'
import { Redis } from 'ioredis'
import { RedisAdapter } from '../../src/adapters/redis/redis-adapter.js'
import { RecordingHandler } from '../contract/adapter-contract.js'
import { TestRedisServer } from '../helpers/redis-server.js'

const HISTORY = { historySize: 1000, historyTtlMs: 60_000 }
const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

/** How a node's adapter is told where Redis is: a URL, or an ioredis client the application made (and closes). */
type Via = 'url' | 'client'

async function node (t: { teardown: (fn: () => unknown) => void }, url: string, prefix: string, sweepMs = 200, via: Via = 'url'): Promise<{ adapter: RedisAdapter, handler: RecordingHandler }> {
  const client = via === 'client' ? new Redis(url) : null
  const where = client === null ? { url } : { client }
  const adapter = new RedisAdapter({ ...where, keyPrefix: prefix, presenceSweepIntervalMs: sweepMs, connectTimeoutMs: 3000 })
  const handler = new RecordingHandler()
  await adapter.init(handler)
  // The application's client outlives the adapter: closed by the application, after it.
  t.teardown(async () => { await adapter.close(); client?.disconnect() })
  return { adapter, handler }
}

// The same nodes whether the adapter opens its connections from a URL or duplicates an ioredis
// client it was given (as a Sentinel setup passes one).
for (const via of ['url', 'client'] as const) {
  t.test(`a publication on A reaches B and C exactly once and in order (${via})`, async (t) => {
    const redis = await TestRedisServer.start()
    t.teardown(() => redis.destroy())
    const [a, b, c] = await Promise.all([node(t, redis.url, 'n1:', 200, via), node(t, redis.url, 'n1:', 200, via), node(t, redis.url, 'n1:', 200, via)])
    if (a === undefined || b === undefined || c === undefined) throw new Error('nodes')
    await Promise.all([a, b, c].map(async (n) => { await n.adapter.subscribe('room') }))
    // Interleaved publishers on two nodes: every node must see one order.
    await Promise.all(Array.from({ length: 300 }, async (_, i) => await (i % 2 === 0 ? a : b).adapter.publish('room', i, HISTORY)))
    for (const n of [a, b, c]) await n.handler.until(() => n.handler.publications.length >= 300, '300 deliveries')
    await sleep(100)
    const expected = Array.from({ length: 300 }, (_, i) => i + 1)
    for (const [name, n] of [['A', a], ['B', b], ['C', c]] as const) {
      t.same(n.handler.publications.map((p) => p.offset), expected, `${name} got every offset once, in order`)
    }
    t.same(b.handler.publications.map((p) => p.data), c.handler.publications.map((p) => p.data), 'the same order on every node')
  })

  t.test(`presence is the union across nodes, and a dead node's entries expire with a leave (${via})`, async (t) => {
    const redis = await TestRedisServer.start()
    t.teardown(() => redis.destroy())
    const a = await node(t, redis.url, 'n2:', 200, via)
    const b = await node(t, redis.url, 'n2:', 200, via)
    await a.adapter.subscribe('lobby')
    await b.adapter.subscribe('lobby')
    await a.adapter.presenceAdd('lobby', { clientId: 'a1', visitorId: 'ann', name: 'Ann' }, 1000)
    await b.adapter.presenceAdd('lobby', { clientId: 'b1', visitorId: 'bob', name: 'Bob' }, 1000)
    await b.adapter.presenceAdd('lobby', { clientId: 'b2', visitorId: 'ann', name: 'Ann' }, 1000)
    t.same(await a.adapter.presence('lobby'), [{ id: 'ann', name: 'Ann' }, { id: 'bob', name: 'Bob' }])
    t.same(await b.adapter.presence('lobby'), await a.adapter.presence('lobby'), 'both nodes see the union')
    // B dies without cleaning up; A keeps refreshing its own entry.
    await b.adapter.close()
    const died = Date.now()
    for (let i = 0; i < 8; i++) {
      await sleep(250)
      await a.adapter.presenceAdd('lobby', { clientId: 'a1', visitorId: 'ann', name: 'Ann' }, 1000)
    }
    await a.handler.until(() => a.handler.presenceEvents.some((e) => e.action === 'leave'), 'bob leaves')
    const leftAfterMs = Date.now() - died
    t.same(await a.adapter.presence('lobby'), [{ id: 'ann', name: 'Ann' }], 'only the live node\'s visitor remains')
    t.same(a.handler.presenceEvents.filter((e) => e.action === 'leave'), [{ channel: 'lobby', action: 'leave', member: { id: 'bob' } }], 'one leave, for bob only (ann still has a live tab)')
    t.ok(leftAfterMs < 3000, `gone within the TTL and a sweep (${leftAfterMs} ms)`)
  })

  t.test(`Redis down: publishes fail fast and are reported; back: the gap is delivered in order (${via})`, async (t) => {
    const redis = await TestRedisServer.start()
    t.teardown(() => redis.destroy())
    const a = await node(t, redis.url, 'n3:', 200, via)
    const b = await node(t, redis.url, 'n3:', 200, via)
    await a.adapter.subscribe('feed')
    await b.adapter.subscribe('feed')
    for (let i = 1; i <= 5; i++) await a.adapter.publish('feed', i, HISTORY)
    await b.handler.until(() => b.handler.publications.length >= 5, 'first five')

    await redis.stop('SIGKILL')
    await a.handler.until(() => !a.adapter.connected, 'the adapter sees the outage', 10_000)
    t.equal(a.adapter.connected, false, 'the adapter knows it is disconnected')
    const started = Date.now()
    await t.rejects(a.adapter.publish('feed', 'lost?', HISTORY), 'a publish during the outage is rejected')
    // Queued, it would wait for the reconnect (never, Redis stays down here) or for the client's
    // retries to run out (tens of seconds): a generous bound still tells the two apart.
    t.ok(Date.now() - started < 5000, `fast, not after minutes of queueing (${Date.now() - started} ms)`)
    await b.handler.until(() => b.handler.errors.some((e) => e.operation === 'connection'), 'the outage is reported')

    // Redis comes back empty (no persistence): the history is lost, so the epoch changes.
    await redis.restart()
    await a.handler.until(() => a.adapter.connected, 'reconnected', 10_000)
    await b.handler.until(() => b.adapter.connected, 'reconnected', 10_000)
    const after = await a.adapter.publish('feed', 'after', HISTORY)
    await b.handler.until(() => b.handler.publications.some((p) => p.data === 'after'), 'live again after the restart', 10_000)
    t.not(after.epoch, b.handler.publications[0]?.epoch, 'a new epoch tells subscribers the history was lost')
    t.equal(after.offset, 1)
  })

  t.test(`a subscriber connection lost while Redis stays up: the gap is filled from the history (${via})`, async (t) => {
    const redis = await TestRedisServer.start()
    t.teardown(() => redis.destroy())
    const a = await node(t, redis.url, 'n4:', 200, via)
    const b = await node(t, redis.url, 'n4:', 200, via)
    await b.adapter.subscribe('ticker')
    await a.adapter.publish('ticker', 1, HISTORY)
    await b.handler.until(() => b.handler.publications.length >= 1, 'first')
    // Kill B's subscriber connection from the server side (as a network blip would).
    const admin = new Redis(redis.url)
    t.teardown(() => admin.quit())
    const clients = (await admin.client('LIST') as string).split('\n').filter((line) => line.includes(`fastify-realtime:subscriber:${b.adapter.nodeId}`))
    t.equal(clients.length, 1)
    const id = /id=(\d+)/.exec(clients[0] ?? '')?.[1] ?? ''
    await admin.client('KILL', 'ID', id)
    for (let i = 2; i <= 20; i++) await a.adapter.publish('ticker', i, HISTORY)
    await b.handler.until(() => b.handler.publications.length >= 20, 'all twenty after reconnecting', 10_000)
    await b.handler.until(() => b.handler.errors.some((e) => e.operation === 'connection'), 'the lost connection reported', 10_000)
    await sleep(200) // only lets a wrong extra delivery arrive before the exact list below
    t.ok(b.handler.errors.some((e) => e.operation === 'connection'), 'the lost connection was noticed')
    t.same(b.handler.publications.map((p) => p.data), Array.from({ length: 20 }, (_, i) => i + 1), 'nothing missing, nothing twice, in order')
  })
}

t.test('a control message reaches every node once, the sender included; shared state is shared', async (t) => {
  const redis = await TestRedisServer.start()
  t.teardown(() => redis.destroy())
  const nodes = await Promise.all([node(t, redis.url, 'n9:'), node(t, redis.url, 'n9:'), node(t, redis.url, 'n9:')])
  const [a, b] = nodes
  if (a === undefined || b === undefined) throw new Error('nodes')
  await a.adapter.control({ kind: 'test.hello', from: 'a' })
  for (const n of nodes) await n.handler.until(() => n.handler.controls.length >= 1, 'the control message')
  await sleep(100)
  t.same(nodes.map((n) => n.handler.controls), nodes.map(() => [{ kind: 'test.hello', from: 'a' }]), 'each node got it once')
  await a.adapter.stateSet('shared', { by: 'a' }, 60_000)
  t.same(await b.adapter.stateGet('shared'), { by: 'a' }, 'what A keeps, B reads')
  const claims = await Promise.all(nodes.map(async (n, i) => await n.adapter.stateClaim('once', i, 60_000)))
  t.equal(claims.filter(Boolean).length, 1, 'one node of three wins a claim')
})

t.test('lifecycle across nodes: one occupied, one vacated, and a dead node\'s leaves and vacancy found once by a survivor', async (t) => {
  const redis = await TestRedisServer.start()
  t.teardown(() => redis.destroy())
  const start = async (): Promise<{ adapter: RedisAdapter, handler: RecordingHandler }> => {
    const adapter = new RedisAdapter({ url: redis.url, keyPrefix: 'life:', connectTimeoutMs: 3000, presenceSweepIntervalMs: 100 })
    const handler = new RecordingHandler()
    // The node's presenceTtlMs is the adapter's occupancy TTL too.
    await adapter.init(handler, { presenceTtlMs: 600 })
    return { adapter, handler }
  }
  const [a, b, c] = await Promise.all([start(), start(), start()])
  if (a === undefined || b === undefined || c === undefined) throw new Error('nodes')
  t.teardown(async () => { await a.adapter.close(); await b.adapter.close() })
  const all = [a, b, c]
  const events = (): string[] => all.flatMap((n, i) => n.handler.lifecycle.map((event) => `${'ABC'[i] ?? '?'}:${event.type}${'member' in event ? `:${event.member.id}` : ''}:${event.channel}`)).sort()

  await a.adapter.subscribe('room')
  await b.adapter.subscribe('room')
  await a.adapter.unsubscribe('room')
  await b.adapter.unsubscribe('room')
  t.same(events(), ['A:channel.occupied:room', 'B:channel.vacated:room'], 'the first node in is told occupied, the last out vacated; nobody else')

  // C holds the lobby alone, with a visitor, and dies without a word (no unsubscribe, no presence remove).
  await c.adapter.subscribe('lobby')
  await c.adapter.presenceAdd('lobby', { clientId: 'c1', visitorId: 'cleo' }, 600)
  await c.adapter.close()
  const found = (): string[] => events().filter((event) => event.includes(':lobby') && !event.startsWith('C:'))
  await a.handler.until(() => found().length >= 2, 'a survivor finds the leave and the vacancy', 15_000)
  await sleep(500) // only lets a wrong second report arrive before the count below
  t.equal(found().length, 2, `a survivor found the leave and the vacancy, once each: ${found().join(', ')}`)
  t.same(found().map((event) => event.slice(2)).sort(), ['channel.vacated:lobby', 'presence.leave:cleo:lobby'])
  t.same(await a.adapter.presence('lobby'), [], 'and the ghost is gone')
})

t.test('a live node keeps its channels occupied with a presenceTtlMs shorter than three sweep intervals', async (t) => {
  const redis = await TestRedisServer.start()
  t.teardown(() => redis.destroy())
  // The holder sweeps at the default 1 s; its marks live 600 ms, so they must be refreshed on their own clock.
  const holder = new RedisAdapter({ url: redis.url, keyPrefix: 'steady:', connectTimeoutMs: 3000 })
  const watcher = new RedisAdapter({ url: redis.url, keyPrefix: 'steady:', connectTimeoutMs: 3000, presenceSweepIntervalMs: 100 })
  const holderEvents = new RecordingHandler()
  const watcherEvents = new RecordingHandler()
  await holder.init(holderEvents, { presenceTtlMs: 600 })
  await watcher.init(watcherEvents, { presenceTtlMs: 600 })
  t.teardown(async () => { await holder.close(); await watcher.close() })
  await holder.subscribe('steady')
  // Six TTLs: with the refresh tied to the 1 s sweep, the mark lapses within the first two.
  await sleep(3600)
  const events = [...holderEvents.lifecycle, ...watcherEvents.lifecycle].map((event) => event.type)
  t.same(events, ['channel.occupied'], 'occupied once, never vacated while its node lives')
})
