import { EventEmitter } from 'node:events'
import t from 'tap'
import { SendBacklog } from '../../src/limits/send-backlog.js'
import { judgeQueued, judgeSend, LatestTick } from '../../src/limits/send-budget.js'

t.test('judgeSend: within budget sends; past it, ticks coalesce and messages close', async (t) => {
  const max = 1000
  t.equal(judgeSend(0, 5000, 'message', max), 'send', 'an empty buffer takes one frame of any size')
  t.equal(judgeSend(500, 500, 'message', max), 'send', 'exactly at the budget')
  t.equal(judgeSend(500, 501, 'message', max), 'close')
  t.equal(judgeSend(500, 501, 'tick', max), 'coalesce')
  t.equal(judgeSend(999, 1, 'tick', max), 'send')
  t.equal(judgeSend(500, 501, 'replay', max), 'queue', 'a replay frame past the budget waits for the drain')
  t.equal(judgeSend(500, 500, 'replay', max), 'send')
})

t.test('judgeQueued: live frames behind a replay may wait up to the budget, one frame always may', async (t) => {
  const max = 1000
  t.equal(judgeQueued(0, 5000, max), 'queue', 'the first frame of any size')
  t.equal(judgeQueued(500, 500, max), 'queue', 'exactly at the budget')
  t.equal(judgeQueued(500, 501, max), 'close', 'past it the client stopped taking what it is sent')
})

t.test('SendBacklog: first in, first out; only live frames count against the budget', async (t) => {
  const frame = (name: string, bytes: number, channel?: string): { name: string, bytes: Buffer, position?: { channel: string } } =>
    channel === undefined ? { name, bytes: Buffer.alloc(bytes) } : { name, bytes: Buffer.alloc(bytes), position: { channel } }
  const backlog = new SendBacklog<ReturnType<typeof frame>>()
  backlog.push(frame('r1', 100, 'feed'), false)
  backlog.push(frame('r2', 100, 'feed'), false)
  backlog.push(frame('live', 30, 'chat'), true)
  backlog.push(frame('answer', 7), true)
  t.equal(backlog.size, 4)
  t.equal(backlog.liveBytes, 37, 'the replay\'s own frames are not counted')
  t.equal(backlog.peek()?.name, 'r1')
  backlog.shift()
  t.equal(backlog.peek()?.name, 'r2')
  t.equal(backlog.dropChannel('feed'), 1, 'a channel the client left: what waits of it is dropped')
  t.equal(backlog.peek()?.name, 'live', 'the rest keeps its order')
  backlog.shift()
  t.equal(backlog.liveBytes, 7)
  backlog.shift()
  t.equal(backlog.size, 0)
  t.equal(backlog.liveBytes, 0)
  t.equal(backlog.peek(), undefined)
  for (let i = 0; i < 3000; i++) backlog.push(frame(`f${i}`, 1), true)
  for (let i = 0; i < 2500; i++) backlog.shift()
  t.equal(backlog.peek()?.name, 'f2500', 'order survives the compaction of written frames')
  t.equal(backlog.liveBytes, 500)
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
