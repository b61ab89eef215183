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
