/**
 * The one-shot deadline wheel: deadlines never fire early, items due in the same bucket share it,
 * one timer serves them all (ten thousand items due at once are one bucket and one timer), and
 * the timer goes away with the last item.
 */
import t from 'tap'
import { DeadlineWheel } from '../../src/node/deadline-wheel.js'
import { fakeWheelClock as fakeClock } from '../helpers/fake-wheel-clock.js'

t.test('a deadline fires once, never before its time, within one bucket after it', async (t) => {
  const clock = fakeClock()
  const fired: Array<{ item: string, at: number }> = []
  const wheel = new DeadlineWheel<string>({ bucketMs: 1000, clock, onExpire: (items, now) => { for (const item of items) fired.push({ item, at: now }) } })
  const start = clock.now()
  wheel.schedule('a', start + 2500)
  wheel.schedule('b', start + 700)
  clock.tick(2499)
  t.same(fired.map((f) => f.item), ['b'], 'b is due, a is not yet')
  t.ok((fired[0]?.at ?? 0) >= start + 700, 'b did not fire early')
  clock.tick(1000)
  t.same(fired.map((f) => f.item), ['b', 'a'])
  t.ok((fired[1]?.at ?? 0) >= start + 2500 && (fired[1]?.at ?? 0) < start + 2500 + 1000, 'a fired within a bucket after its deadline')
  t.equal(wheel.size, 0)
  t.equal(clock.pending(), 0, 'no timer is left')
})

t.test('ten thousand items due at once cost one bucket and one timer', async (t) => {
  const clock = fakeClock()
  const batches: number[] = []
  const wheel = new DeadlineWheel<number>({ bucketMs: 1000, clock, onExpire: (items) => { batches.push(items.size) } })
  const at = clock.now() + 60_000
  for (let i = 0; i < 10_000; i++) wheel.schedule(i, at + (i % 900)) // spread within one second
  t.equal(wheel.size, 10_000)
  t.ok(wheel.buckets <= 2, `${wheel.buckets} bucket(s) for 10,000 deadlines within one second`)
  t.equal(clock.pending(), 1, 'one timer armed')
  t.equal(clock.armed, 1, 'and only ever one')
  clock.tick(62_000)
  t.equal(batches.reduce((sum, size) => sum + size, 0), 10_000, 'every item fired')
  t.ok(batches.length <= 2, 'in one batch per bucket')
  t.equal(clock.pending(), 0)
})

t.test('rescheduling moves an item; cancelling the last item clears the timer; an item may be rescheduled from its own expiry', async (t) => {
  const clock = fakeClock()
  const fired: string[] = []
  const wheel: DeadlineWheel<string> = new DeadlineWheel<string>({
    bucketMs: 100,
    clock,
    onExpire: (items) => {
      for (const item of items) {
        fired.push(item)
        if (item === 'again' && fired.length === 1) wheel.schedule(item, clock.now() + 500)
      }
    }
  })
  wheel.schedule('x', clock.now() + 1000)
  wheel.schedule('x', clock.now() + 5000)
  t.equal(wheel.size, 1, 'a second schedule replaces the first')
  clock.tick(2000)
  t.same(fired, [], 'the earlier deadline is gone')
  wheel.cancel('x')
  t.equal(wheel.running, false, 'no item: no timer')
  t.equal(clock.pending(), 0)
  wheel.schedule('again', clock.now() + 100)
  clock.tick(200)
  t.same(fired, ['again'])
  t.equal(wheel.size, 1, 'scheduled again from its own expiry')
  clock.tick(600)
  t.same(fired, ['again', 'again'])
  t.equal(clock.pending(), 0)
})

t.test('an earlier deadline re-arms the timer for itself', async (t) => {
  const clock = fakeClock()
  const fired: string[] = []
  const wheel = new DeadlineWheel<string>({ bucketMs: 10, clock, onExpire: (items) => { fired.push(...items) } })
  wheel.schedule('late', clock.now() + 10_000)
  wheel.schedule('soon', clock.now() + 50)
  clock.tick(60)
  t.same(fired, ['soon'])
  t.equal(clock.pending(), 1, 'armed again for the late one')
  wheel.clear()
  t.equal(clock.pending(), 0)
})
