/**
 * The Redis adapter on a Redis Cluster (3 masters + 3 replicas, real redis-server processes): the
 * shared adapter contract, the Cluster key layout (one slot per channel, shard channel included),
 * and the option shapes.
 */
import t from 'tap'
import { Cluster, Redis } from 'ioredis'
import { RedisAdapter } from '../../src/adapters/redis/redis-adapter.js'
import { channelKeys } from '../../src/adapters/redis/keys.js'
import { keySlot } from '../../src/adapters/redis/slot.js'
import { runAdapterContract } from '../contract/adapter-contract.js'
import { TestRedisCluster } from '../helpers/redis-cluster.js'

const cluster = await TestRedisCluster.start()
t.teardown(() => cluster.destroy())
let prefixSeq = 0

async function flushAll (): Promise<void> {
  for (const port of await cluster.masters()) await cluster.command(port, 'FLUSHALL')
}

runAdapterContract(t, {
  create: async () => new RedisAdapter({ cluster: { nodes: cluster.nodes }, keyPrefix: `ccontract${++prefixSeq}:`, presenceSweepIntervalMs: 200 }),
  loseHistory: async (adapter) => {
    await flushAll()
    return adapter
  }
})

t.test('an ioredis Cluster passed as client: the whole contract, over connections duplicated from it', async (t) => {
  const given = new Cluster(cluster.nodes, { lazyConnect: true })
  t.teardown(() => given.disconnect())
  runAdapterContract(t, {
    create: async () => new RedisAdapter({ client: given, keyPrefix: `cclient${++prefixSeq}:`, presenceSweepIntervalMs: 200 }),
    loseHistory: async (adapter) => {
      await flushAll()
      return adapter
    }
  })
})

t.test('every key and the shard channel of a channel are in one slot (braces in the name included), computed as Redis does', async (t) => {
  for (const channel of ['chat', 'a}b', 'room:{x}', 'ünï', '#server-to-user-7']) {
    const keys = channelKeys('rt:', channel, 'cluster')
    const slots = new Set(Object.values(keys).map(keySlot))
    t.equal(slots.size, 1, `${JSON.stringify(channel)}: ${[...slots].join(',')}`)
    t.equal(keySlot(keys.pubsub), Number(await cluster.command(cluster.nodes[0]?.port ?? 0, 'CLUSTER', 'KEYSLOT', keys.pubsub)), 'the slot Redis computes')
  }
  t.equal(channelKeys('rt:', 'chat').pubsub, 'rt:pub:chat', 'one Redis keeps the pub/sub channel of every earlier version')
  t.equal(channelKeys('rt:', 'chat', 'cluster').pubsub, 'rt:{chat}:pub')
})

t.test('on a Cluster, publications go out with SPUBLISH to the shard channel (and control messages too), none with PUBLISH', async (t) => {
  const adapter = new RedisAdapter({ cluster: { nodes: cluster.nodes }, keyPrefix: 'spub:' })
  const received: unknown[] = []
  const controls: unknown[] = []
  await adapter.init({ onPublication: (p) => { received.push(p.data) }, onPresence: () => {}, onControl: (m) => { controls.push(m) } })
  t.teardown(() => adapter.close())
  const plain = new Cluster(cluster.nodes)
  t.teardown(() => plain.disconnect())
  const plainMessages: string[] = []
  plain.on('message', (channel: string) => { plainMessages.push(channel) })
  await plain.subscribe('spub:pub:news', 'spub:ctl')
  const shard = new Cluster(cluster.nodes, { shardedSubscribers: true })
  t.teardown(() => shard.disconnect())
  const shardMessages: string[] = []
  shard.on('smessage', (channel: string) => { shardMessages.push(channel) })
  await shard.ssubscribe('spub:{news}:pub')
  await adapter.subscribe('news')
  await adapter.publish('news', 'hello', { historySize: 10, historyTtlMs: 60_000 })
  await adapter.control({ kind: 'test.ping' })
  const started = Date.now()
  while ((received.length < 1 || controls.length < 1 || shardMessages.length < 1) && Date.now() - started < 5000) await new Promise((resolve) => setTimeout(resolve, 10))
  t.same(received, ['hello'], 'delivered through the sharded subscription')
  t.same(controls, [{ kind: 'test.ping' }], 'the control message arrived')
  t.same(shardMessages, ['spub:{news}:pub'], 'on the shard channel in the channel\'s slot')
  t.same(plainMessages, [], 'nothing on plain pub/sub')
})

t.test('exactly one of url, cluster, client or createClient; a cluster needs nodes', async (t) => {
  t.throws(() => new RedisAdapter({}), { code: 'FRT_INVALID_OPTION', message: /exactly one of url, cluster, client or createClient \(got none\)/ })
  t.throws(() => new RedisAdapter({ url: 'redis://127.0.0.1:1', cluster: { nodes: cluster.nodes } }), { code: 'FRT_INVALID_OPTION', message: /got url and cluster/ })
  t.throws(() => new RedisAdapter({ cluster: { nodes: [] } }), { code: 'FRT_INVALID_OPTION', message: /at least one cluster node/ })
  const single = new Redis({ lazyConnect: true })
  const both = new RedisAdapter({ createClient: (role) => role === 'publisher' ? new Cluster(cluster.nodes) : single.duplicate() })
  await t.rejects(both.init({ onPublication: () => {}, onPresence: () => {} }), { code: 'FRT_INVALID_OPTION', message: /same kind of connection/ })
})

t.test('the whole cluster down: a publish is refused within connectTimeoutMs (never held until it is back), and after it is back the subscriptions are made again', async (t) => {
  const own = await TestRedisCluster.start()
  t.teardown(() => own.destroy())
  const received: unknown[] = []
  const errors: string[] = []
  const restored: string[] = []
  const adapter = new RedisAdapter({ cluster: { nodes: own.nodes }, keyPrefix: 'down:', connectTimeoutMs: 1000 })
  await adapter.init({ onPublication: (p) => { received.push(p.data) }, onPresence: () => {}, onError: (err, op) => { errors.push(`${op}: ${err.message}`) }, onRestored: (what) => { restored.push(what) } })
  t.teardown(() => adapter.close())
  await adapter.subscribe('news')
  await adapter.publish('news', 'before', { historySize: 10, historyTtlMs: 60_000 })

  const ports = own.runningPorts
  await Promise.all(ports.map(async (port) => { await own.kill(port) }))
  const until = Date.now() + 10_000
  while (adapter.connected && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 20))
  t.notOk(adapter.connected, 'the adapter says it is not connected (/ready turns 503)')
  const started = Date.now()
  await t.rejects(adapter.publish('news', 'during', { historySize: 10, historyTtlMs: 60_000 }), /Redis Cluster|Connection is closed/, 'a publish is refused')
  const tookMs = Date.now() - started
  t.ok(tookMs < 2000, `within connectTimeoutMs (${tookMs} ms), not held until the cluster is back`)

  await Promise.all(ports.map(async (port) => { await own.restart(port) }))
  await own.settled()
  const back = Date.now() + 20_000
  while (!adapter.connected && Date.now() < back) await new Promise((resolve) => setTimeout(resolve, 50))
  t.ok(adapter.connected, 'connected again')
  // Without persistence the data is gone: a new epoch, which the recovery reports.
  const delivered = Date.now() + 10_000
  let published = false
  while (!received.includes('after') && Date.now() < delivered) {
    if (!published) published = await adapter.publish('news', 'after', { historySize: 10, historyTtlMs: 60_000 }).then(() => true, () => false)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  t.ok(received.includes('after'), 'the channel is delivered again after the cluster came back')
})
