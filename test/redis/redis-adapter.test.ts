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
