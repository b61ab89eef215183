import t from 'tap'
import { MemoryAdapter } from '../../src/adapters/memory.js'
import { runAdapterContract } from '../contract/adapter-contract.js'

t.test('memory adapter: the shared adapter contract', async (t) => {
  runAdapterContract(t, {
    create: async () => new MemoryAdapter({ sweepIntervalMs: 100 }),
    loseHistory: async (adapter) => {
      // A restart: the process's memory is gone.
      await adapter.close()
      const next = new MemoryAdapter({ sweepIntervalMs: 100 })
      await next.init({ onPublication: () => {}, onPresence: () => {} })
      return next
    }
  })
})

t.test('memory adapter: an idle stream is forgotten and comes back with a new epoch', async (t) => {
  let now = 1_000_000
  const adapter = new MemoryAdapter({ streamIdleTtlMs: 1000, now: () => now })
  await adapter.init({ onPublication: () => {}, onPresence: () => {} })
  t.teardown(() => adapter.close())
  const first = await adapter.publish('c', 1, { historySize: 10, historyTtlMs: 100_000 })
  now += 500
  t.equal((await adapter.recent('c', 0)).position.epoch, first.epoch, 'still there while used')
  now += 1500
  adapter.sweep()
  const after = await adapter.since('c', { offset: 1, epoch: first.epoch })
  t.equal(after.recovered, false)
  t.not(after.position.epoch, first.epoch)
  t.equal(after.position.offset, 0)
})

t.test('memory adapter: refuses work after close', async (t) => {
  const adapter = new MemoryAdapter()
  await adapter.init({ onPublication: () => {}, onPresence: () => {} })
  await adapter.close()
  await t.rejects(adapter.publish('c', 1, { historySize: 0, historyTtlMs: 0 }), /closed/)
})
