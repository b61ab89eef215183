/**
 * The Redis adapter against the shared adapter contract, on a private redis-server.
 */
import t from 'tap'
import { Redis } from 'ioredis'
import { RedisAdapter } from '../../src/adapters/redis/redis-adapter.js'
import { runAdapterContract } from '../contract/adapter-contract.js'
import { TestRedisServer } from '../helpers/redis-server.js'

const server = await TestRedisServer.start()
t.teardown(() => server.destroy())
let prefixSeq = 0

runAdapterContract(t, {
  create: async () => new RedisAdapter({ url: server.url, keyPrefix: `contract${++prefixSeq}:`, presenceSweepIntervalMs: 200 }),
  loseHistory: async (adapter) => {
    const admin = new Redis(server.url)
    await admin.flushdb()
    await admin.quit()
    return adapter
  }
})

t.test('an idempotency key is kept with its fingerprint; one remembered by an older version (without) still answers the duplicate', async (t) => {
  const adapter = new RedisAdapter({ url: server.url, keyPrefix: 'idem-fp:' })
  await adapter.init({ onPublication: () => {}, onPresence: () => {} })
  t.teardown(() => adapter.close())
  const admin = new Redis(server.url)
  t.teardown(() => admin.quit())
  const options = { historySize: 10, historyTtlMs: 60_000, idempotencyKey: 'job-1', idempotencyTtlMs: 60_000 }
  const first = await adapter.publish('jobs', { id: 1 }, options)
  const stored = await admin.get('idem-fp:{jobs}:idem:job-1')
  t.match(stored, new RegExp(`^1 ${first.epoch} ${first.t} [A-Za-z0-9_-]{43}$`), 'the position and the fingerprint, in one value')

  // A rolling upgrade: the key was remembered before fingerprints existed.
  await admin.set('idem-fp:{jobs}:idem:job-2', `1 ${first.epoch} ${first.t}`, 'PX', 60_000)
  const legacy = await adapter.publish('jobs', { anything: true }, { ...options, idempotencyKey: 'job-2' })
  t.match(legacy, { offset: 1, epoch: first.epoch, t: first.t, duplicate: true }, 'answered as the duplicate it was before')
  await t.rejects(adapter.publish('jobs', { id: 2 }, options), { code: 'FRT_IDEMPOTENCY_KEY_REUSED' })
  t.equal((await adapter.recent('jobs', 0)).position.offset, 1, 'nothing else was published')
})

t.test('an ioredis client passed in: the whole contract, over connections duplicated from it', async (t) => {
  const given = new Redis(server.url)
  t.teardown(() => given.quit())
  runAdapterContract(t, {
    create: async () => new RedisAdapter({ client: given, keyPrefix: `client-contract${++prefixSeq}:`, presenceSweepIntervalMs: 200 }),
    loseHistory: async (adapter) => {
      await given.flushdb()
      return adapter
    }
  })
})

t.test('the adapter closes the connections it opened, never a client it was given', async (t) => {
  const given = new Redis(server.url)
  t.teardown(() => given.quit())
  await new Promise((resolve) => given.once('ready', resolve))
  const adapter = new RedisAdapter({ client: given, keyPrefix: 'owned:' })
  await adapter.init({ onPublication: () => {}, onPresence: () => {} })
  const names = async (): Promise<string> => String(await given.client('LIST'))
  t.match(await names(), new RegExp(`fastify-realtime:publisher:${adapter.nodeId}`), 'its own publisher connection is open')
  t.match(await names(), new RegExp(`fastify-realtime:subscriber:${adapter.nodeId}`), 'and its own subscriber')
  await adapter.close()
  t.equal(given.status, 'ready', 'the given client is still connected after close()')
  t.equal(await given.ping(), 'PONG', 'and still answers')
  t.notMatch(await names(), new RegExp(`fastify-realtime:(publisher|subscriber):${adapter.nodeId}`), 'the two connections it opened are closed')
})

t.test('a createClient factory: called once per role, its connections owned and closed by the adapter', async (t) => {
  const made: Array<{ role: string, redis: Redis }> = []
  const adapter = new RedisAdapter({
    keyPrefix: 'factory:',
    createClient: (role) => {
      const redis = new Redis(server.url, { enableOfflineQueue: role === 'subscriber', maxRetriesPerRequest: 1 })
      made.push({ role, redis })
      return redis
    }
  })
  await adapter.init({ onPublication: () => {}, onPresence: () => {} })
  t.same(made.map((m) => m.role).sort(), ['publisher', 'subscriber'])
  const published = await adapter.publish('factory-chan', 'hi', { historySize: 10, historyTtlMs: 60_000 })
  t.equal(published.offset, 1, 'it publishes through them')
  await adapter.close()
  // quit() answers before the socket is gone: wait for each connection's end (the test times out if it never comes).
  await Promise.all(made.map(async (m) => { if (m.redis.status !== 'end') await new Promise((resolve) => m.redis.once('end', resolve)) }))
  t.ok(made.every((m) => m.redis.status === 'end'), 'both are closed with the adapter')
})

t.test('exactly one of url, cluster, client or createClient', async (t) => {
  t.throws(() => new RedisAdapter({}), { code: 'FRT_INVALID_OPTION', message: /exactly one of url, cluster, client or createClient \(got none\)/ })
  const given = new Redis(server.url, { lazyConnect: true })
  t.throws(() => new RedisAdapter({ url: server.url, client: given }), { code: 'FRT_INVALID_OPTION', message: /got url and client/ })
})
