/**
 * The Redis adapter through Redis Sentinel (one master, one replica, three sentinels; real
 * redis-server processes): the whole adapter contract over an ioredis Sentinel client, then two
 * nodes publishing and subscribing through a failover: the master SIGKILLed (and brought back: it
 * rejoins as a replica), and a manual `SENTINEL FAILOVER` that demotes a live master.
 */
import t from 'tap'
import { Redis } from 'ioredis'
import { RedisAdapter } from '../../src/adapters/redis/redis-adapter.js'
import { createRedisConnection } from '../../src/adapters/redis/connection.js'
import type { Publication } from '../../src/adapters/broker.js'
import { RecordingHandler, runAdapterContract } from '../contract/adapter-contract.js'
import { TestSentinelSetup } from '../helpers/redis-sentinel.js'

const HISTORY = { historySize: 10_000, historyTtlMs: 60_000 }

const setup = await TestSentinelSetup.start()
t.teardown(() => setup.destroy())
let prefixSeq = 0

/** An application's Sentinel client, as the README shows it: the adapter duplicates it per role. */
function sentinelClient (): Redis {
  const client = new Redis({ sentinels: setup.sentinelAddresses, name: setup.name, lazyConnect: true })
  client.on('error', () => {})
  return client
}

t.test('the adapter contract through Sentinel (a client given: new Redis({ sentinels, name }))', async (t) => {
  const given = sentinelClient()
  t.teardown(() => { given.disconnect() })
  runAdapterContract(t, {
    create: async () => new RedisAdapter({ client: given, keyPrefix: `sentinel-contract${++prefixSeq}:`, presenceSweepIntervalMs: 200 }),
    loseHistory: async (adapter) => {
      const master = setup.direct(await setup.masterPort())
      await master.flushdb()
      master.disconnect()
      return adapter
    }
  })
})

t.test('createRedisConnection through Sentinel: exactly one of url or sentinels with a name', async (t) => {
  t.throws(() => createRedisConnection({ role: 'sessions' }), { code: 'FRT_INVALID_OPTION' }, 'neither')
  t.throws(() => createRedisConnection({ role: 'sessions', url: 'redis://127.0.0.1:1', sentinels: setup.sentinelAddresses, name: setup.name }), { code: 'FRT_INVALID_OPTION' }, 'both')
  t.throws(() => createRedisConnection({ role: 'sessions', sentinels: setup.sentinelAddresses }), { code: 'FRT_INVALID_OPTION' }, 'sentinels without the name')
  const redis = createRedisConnection({ role: 'sessions', sentinels: setup.sentinelAddresses, name: setup.name })
  t.teardown(() => redis.disconnect())
  await new Promise((resolve) => redis.once('ready', resolve))
  t.equal(await redis.set('sentinel:probe', '1'), 'OK', 'it writes to the master the sentinels name')
  // What a demoted master needs (the manual failover below shows the detector at work; a READONLY
  // answer is rare with it, so its handling is checked as configured).
  const { failoverDetector, reconnectOnError, role } = redis.options
  t.equal(failoverDetector, true, 'it follows +switch-master')
  t.equal(role, 'master')
  t.equal(reconnectOnError?.(new Error("READONLY You can't write against a read only replica.")), 1, 'READONLY: reconnect (through the sentinels), the command fails')
  t.equal(reconnectOnError?.(new Error('ERR something else')), false, 'any other error: no reconnect')
  // A client the application made without them gets them on the adapter's duplicates.
  const given = new Redis({ sentinels: setup.sentinelAddresses, name: setup.name, lazyConnect: true })
  const adapter = new RedisAdapter({ client: given, keyPrefix: 'dup:' })
  await adapter.init({ onPublication: () => {}, onPresence: () => {} })
  t.teardown(async () => { await adapter.close(); given.disconnect() })
  t.ok(adapter.connected, 'the adapter connected through the duplicates of a client that never connected itself')
  t.equal(given.status, 'wait', 'the given client was never used')
})

/** A recording handler that also notes when each publication arrived and when the subscriber connection came back. */
class TimedHandler extends RecordingHandler {
  readonly deliveredAt = new Map<unknown, number>()
  subscriberBackAt = 0
  override onPublication = (publication: Publication): void => {
    this.publications.push(publication)
    this.deliveredAt.set(publication.data, Date.now())
  }

  onRestored = (what: string): void => { if (what.includes('subscriber')) this.subscriberBackAt = Date.now() }
}

/**
 * How many of the accepted publications reached `handler` through the history: accepted before
 * its subscriber connection was back, delivered after (pub/sub does not replay what was
 * published before a subscription).
 */
function throughHistory (handler: TimedHandler, outcome: Outcome): number {
  let count = 0
  for (const [n, ackAt] of outcome.ackedAt) {
    const at = handler.deliveredAt.get(n)
    if (at !== undefined && ackAt < handler.subscriberBackAt && at >= handler.subscriberBackAt) count++
  }
  return count
}

/** A node: an adapter over connections duplicated from a Sentinel client. */
async function node (t: { teardown: (fn: () => unknown) => void }, prefix: string): Promise<{ adapter: RedisAdapter, handler: TimedHandler }> {
  const client = sentinelClient()
  const adapter = new RedisAdapter({ client, keyPrefix: prefix, presenceSweepIntervalMs: 200 })
  const handler = new TimedHandler()
  await adapter.init(handler)
  t.teardown(async () => { await adapter.close(); client.disconnect() })
  return { adapter, handler }
}

interface Outcome { sent: number, acked: number[], ackedAt: Map<number, number>, refused: number[], downMs: number, firstRefusedAt: number, lastRefusedAt: number }

/**
 * Publish 1, 2, 3… on `channel` every few ms from `a` until `done()` resolves and 20 more were
 * accepted; a refused publish is counted by its number (its id, to a client).
 */
async function publishThrough (a: RedisAdapter, channel: string, disruption: () => Promise<void>): Promise<Outcome> {
  const outcome: Outcome = { sent: 0, acked: [], ackedAt: new Map(), refused: [], downMs: 0, firstRefusedAt: 0, lastRefusedAt: 0 }
  const pending = new Set<Promise<void>>()
  const state = { stop: false }
  const loop = (async () => {
    while (!state.stop) {
      const n = ++outcome.sent
      const p = a.publish(channel, n, HISTORY).then(() => { outcome.acked.push(n); outcome.ackedAt.set(n, Date.now()) }, () => {
        outcome.refused.push(n)
        outcome.lastRefusedAt = Date.now()
        if (outcome.firstRefusedAt === 0) outcome.firstRefusedAt = outcome.lastRefusedAt
      })
      pending.add(p)
      p.then(() => pending.delete(p), () => {})
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
  })()
  const ackedBefore = async (count: number): Promise<void> => {
    while (outcome.acked.length < count) await new Promise((resolve) => setTimeout(resolve, 10))
  }
  await ackedBefore(20)
  await disruption()
  const target = outcome.acked.length + 20
  await ackedBefore(target)
  state.stop = true
  await loop
  await Promise.all([...pending])
  outcome.downMs = outcome.lastRefusedAt - outcome.firstRefusedAt
  return outcome
}

t.test('the master SIGKILLed: publishes refused while there is none, every accepted one delivered once, in order; the old master rejoins as a replica', async (t) => {
  const a = await node(t, 'kill:')
  const b = await node(t, 'kill:')
  await b.adapter.subscribe('feed')
  await a.adapter.subscribe('feed')
  let killedAt = 0
  let promotedAt = 0
  let wentDown = false
  const outcome = await publishThrough(a.adapter, 'feed', async () => {
    const old = await setup.kill()
    killedAt = Date.now()
    await a.handler.until(() => !a.adapter.connected, 'the adapter sees the master gone', 10_000)
    wentDown = true
    const promoted = await setup.waitForFailover(old)
    promotedAt = Date.now()
    await a.handler.until(() => a.adapter.connected && b.adapter.connected, 'both nodes on the new master', 10_000)
    t.comment(`failover: promoted ${promotedAt - killedAt} ms after the kill; both nodes ready ${Date.now() - killedAt} ms after it`)
    // The old master comes back empty, and Sentinel makes it a replica of the new one.
    await setup.restart(old)
    await setup.waitForReplica(old, promoted, 30_000)
    t.comment(`the old master is an in-sync replica ${Date.now() - killedAt} ms after the kill`)
  })
  t.ok(wentDown, 'the adapter said it was disconnected (what /ready reports)')
  t.ok(outcome.refused.length > 0, `${outcome.refused.length} publishes refused while no master, over ${outcome.downMs} ms`)
  const last = outcome.acked.at(-1) ?? 0
  for (const n of [a, b]) await n.handler.until(() => n.handler.publications.some((p) => p.data === last), 'the last accepted publication', 10_000)
  for (const [name, n] of [['A', a], ['B', b]] as const) {
    const received = n.handler.publications.map((p) => p.data as number)
    t.equal(new Set(received).size, received.length, `${name}: no publication twice`)
    if (n.handler.gaps.length > 0) {
      // The promoted replica lacked what the dead master had accepted (asynchronous replication):
      // the node was told (its subscribers get recovered: false), which is the promise.
      t.comment(`${name} was told a gap: ${JSON.stringify(n.handler.gaps)}`)
      continue
    }
    // A gap read that failed (the subscriber back before the publisher) is tried again once the
    // publisher is ready, so nothing accepted is missing.
    t.same(received, [...outcome.acked].sort((x, y) => x - y), `${name} got every accepted publication once, in order, and none refused`)
    t.equal(new Set(n.handler.publications.map((p) => p.epoch)).size, 1, `${name}: one epoch (the stream replicated, its history kept)`)
  }
  t.ok(b.handler.errors.some((e) => e.operation === 'connection'), 'the lost connection was reported')
  t.comment(`SIGKILL: ${outcome.sent} sent, ${outcome.acked.length} accepted, ${outcome.refused.length} refused; publishing down ${outcome.downMs} ms; recovered through the history: A ${throughHistory(a.handler, outcome)}, B ${throughHistory(b.handler, outcome)}`)
})

t.test('a manual failover demotes a live master: the adapter follows at once, nothing accepted is lost unnoticed', async (t) => {
  const a = await node(t, 'manual:')
  const b = await node(t, 'manual:')
  await b.adapter.subscribe('feed')
  await a.adapter.subscribe('feed')
  let old = 0
  const outcome = await publishThrough(a.adapter, 'feed', async () => {
    const asked = Date.now()
    old = await setup.failover()
    const promoted = await setup.waitForFailover(old)
    t.comment(`manual failover: switched ${Date.now() - asked} ms after SENTINEL FAILOVER`)
    await a.handler.until(() => a.adapter.connected && b.adapter.connected, 'both nodes on the new master', 10_000)
    await setup.waitForReplica(old, promoted, 30_000)
    t.comment(`the old master is an in-sync replica ${Date.now() - asked} ms after the request`)
  })
  const last = outcome.acked.at(-1) ?? 0
  for (const n of [a, b]) await n.handler.until(() => n.handler.publications.some((p) => p.data === last), 'the last accepted publication', 10_000)
  // Writes the old master accepted between the promotion and the switch are not on the new one
  // (asynchronous replication), which then hands their offsets out again: a fork. A node that
  // delivered one of them, or misses one, is told (onGap: its subscribers get recovered: false)
  // and the stream moves to a new epoch, so nothing published after it is dropped as a duplicate.
  for (const [name, n] of [['A', a], ['B', b]] as const) {
    const received = n.handler.publications.map((p) => p.data as number)
    const missing = outcome.acked.filter((x) => !received.includes(x))
    t.comment(`manual failover, node ${name}: ${outcome.sent} sent, ${outcome.acked.length} accepted, ${outcome.refused.length} refused; ${missing.length} accepted and not delivered; gaps told: ${JSON.stringify(n.handler.gaps.map((g) => g.cause))}`)
    t.equal(new Set(received).size, received.length, `${name}: no publication twice`)
    t.ok(missing.length === 0 || n.handler.gaps.length > 0, `${name} got every accepted publication, or was told a gap (${missing.length} missing)`)
    // Without the failover detector, the demoted master kept taking writes for ~10 s (1,071 lost
    // in one run); with it, only those of the promotion's own second can be.
    t.ok(missing.length < outcome.acked.length / 4, `${name}: at most the promotion's second of writes is lost (${missing.length} of ${outcome.acked.length})`)
  }
  t.comment(`manual failover: recovered through the history: A ${throughHistory(a.handler, outcome)}, B ${throughHistory(b.handler, outcome)}`)
})

t.test('a subscriber connection cut on the master: it reconnects through the sentinels and the gap comes from the history', async (t) => {
  const a = await node(t, 'cut:')
  const b = await node(t, 'cut:')
  await b.adapter.subscribe('feed')
  const admin = setup.direct(await setup.masterPort())
  t.teardown(() => admin.disconnect())
  const outcome = await publishThrough(a.adapter, 'feed', async () => {
    const line = String(await admin.client('LIST')).split('\n').find((entry) => entry.includes(`fastify-realtime:subscriber:${b.adapter.nodeId}`)) ?? ''
    await admin.client('KILL', 'ID', /id=(\d+)/.exec(line)?.[1] ?? '0')
    await b.handler.until(() => b.handler.subscriberBackAt > 0, 'the subscriber connection back', 10_000)
  })
  const last = outcome.acked.at(-1) ?? 0
  await b.handler.until(() => b.handler.publications.some((p) => p.data === last), 'the last accepted publication', 10_000)
  t.same(outcome.refused, [], 'publishing never stopped')
  t.same(b.handler.publications.map((p) => p.data), outcome.acked, 'every publication once, in order')
  const recovered = throughHistory(b.handler, outcome)
  t.ok(recovered > 0, `${recovered} publications made while it was away came from the history`)
})
