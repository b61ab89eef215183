import { EventEmitter } from 'node:events'
import t from 'tap'
import { judgeSend, LatestTick } from '../../src/limits/send-budget.js'

t.test('judgeSend: within budget sends; past it, ticks coalesce and messages close', async (t) => {
  const max = 1000
  t.equal(judgeSend(0, 5000, 'message', max), 'send', 'an empty buffer takes one frame of any size')
  t.equal(judgeSend(500, 500, 'message', max), 'send', 'exactly at the budget')
  t.equal(judgeSend(500, 501, 'message', max), 'close')
  t.equal(judgeSend(500, 501, 'tick', max), 'coalesce')
  t.equal(judgeSend(999, 1, 'tick', max), 'send')
})

t.test('LatestTick keeps only the newest frame and delivers it on drain, once', async (t) => {
  const source = new EventEmitter()
  const delivered: string[] = []
  const latest = new LatestTick<string>(source, (frame) => delivered.push(frame))
  latest.hold('tick 1')
  latest.hold('tick 2')
  latest.hold('tick 3')
  t.equal(source.listenerCount('drain'), 1, 'one drain listener however many ticks')
  t.ok(latest.pending)
  source.emit('drain')
  t.same(delivered, ['tick 3'], 'only the latest')
  t.notOk(latest.pending)
  source.emit('drain')
  t.same(delivered, ['tick 3'], 'not twice')
  t.equal(source.listenerCount('drain'), 0)
})

t.test('LatestTick: drop forgets the held tick; dispose removes the listener', async (t) => {
  const source = new EventEmitter()
  const delivered: string[] = []
  const latest = new LatestTick<string>(source, (frame) => delivered.push(frame))
  latest.hold('old')
  latest.drop()
  source.emit('drain')
  t.same(delivered, [], 'a dropped tick is not sent')
  latest.hold('again')
  latest.dispose()
  t.equal(source.listenerCount('drain'), 0)
  source.emit('drain')
  t.same(delivered, [])
  const sourceless = new LatestTick<string>(null, (frame) => delivered.push(frame))
  sourceless.hold('waits for the next tick')
  t.ok(sourceless.pending)
})
