import FakeTimers from '@sinonjs/fake-timers'
import t from 'tap'
import { TimerWheel, type WheelClock, type WheelTimer } from '../../src/node/timer-wheel.js'

interface FakeWheelClock extends WheelClock {
  tick: (ms: number) => void
  pending: () => number
  unrefs: number
}

function fakeClock (): FakeWheelClock {
  const clock = FakeTimers.createClock(1_000_000)
  const handles = new Map<WheelTimer, ReturnType<typeof clock.setTimeout>>()
  const fake: FakeWheelClock = {
    unrefs: 0,
    now: () => clock.now,
    setTimeout: (callback, delayMs) => {
      const handle: WheelTimer = { unref: () => { fake.unrefs++ } }
      handles.set(handle, clock.setTimeout(() => { handles.delete(handle); callback() }, delayMs))
      return handle
    },
    clearTimeout: (handle) => {
      const id = handles.get(handle)
      if (id !== undefined) clock.clearTimeout(id)
      handles.delete(handle)
    },
    tick: (ms) => { clock.tick(ms) },
    pending: () => handles.size
  }
  return fake
}

t.test('each item fires once per period, about one period after it was added', async (t) => {
  const clock = fakeClock()
  const fired: Array<{ item: string, at: number }> = []
  const wheel = new TimerWheel<string>({ periodMs: 1000, clock, onFire: (items, now) => { for (const item of items) fired.push({ item, at: now }) } })
  const start = clock.now()
  wheel.add('a')
  clock.tick(300)
  wheel.add('b')
  clock.tick(3000)
  const firesOf = (item: string): number[] => fired.filter((f) => f.item === item).map((f) => f.at - start)
  const a = firesOf('a')
  const b = firesOf('b')
  t.equal(a.length, 3)
  t.equal(b.length, 3)
  t.ok(a.every((at, i) => Math.abs(at - 1000 * (i + 1)) <= wheel.slotMs), `a fires at ~1000/2000/3000: ${a.join(',')}`)
  t.ok(b.every((at, i) => Math.abs(at - (300 + 1000 * (i + 1))) <= wheel.slotMs), `b fires at ~1300/2300/3300: ${b.join(',')}`)
})

t.test('items added at different times are spread over slots and batched within one', async (t) => {
  const clock = fakeClock()
  const batches: number[] = []
  const wheel = new TimerWheel<number>({ periodMs: 1000, clock, onFire: (items) => { batches.push(items.size) } })
  for (let i = 0; i < 100; i++) {
    wheel.add(i)
    if (i % 10 === 9) clock.tick(100)
  }
  batches.length = 0
  clock.tick(1000)
  t.equal(batches.reduce((sum, n) => sum + n, 0), 100, 'every item fired once in one period')
  t.ok(batches.length >= 10, `the load is spread over ${batches.length} batches`)
  t.ok(Math.max(...batches) <= 10, 'no burst bigger than what arrived together')
})

t.test('one timer for any number of items, unref\'d, and none when empty', async (t) => {
  const clock = fakeClock()
  const wheel = new TimerWheel<number>({ periodMs: 500, clock, onFire: () => {} })
  t.equal(clock.pending(), 0)
  for (let i = 0; i < 1000; i++) wheel.add(i)
  t.equal(clock.pending(), 1, 'one timer for a thousand items')
  t.ok(clock.unrefs >= 1, 'the timer is unref\'d')
  clock.tick(2000)
  t.equal(clock.pending(), 1, 'still one after several periods')
  for (let i = 0; i < 1000; i++) wheel.remove(i)
  t.equal(wheel.size, 0)
  t.equal(wheel.running, false)
  t.equal(clock.pending(), 0, 'no timer left when the wheel is empty')
})

t.test('a removed item never fires again; adding twice is a no-op', async (t) => {
  const clock = fakeClock()
  const fired: string[] = []
  const wheel = new TimerWheel<string>({ periodMs: 200, clock, onFire: (items) => { fired.push(...items) } })
  wheel.add('x')
  wheel.add('x')
  wheel.add('y')
  t.equal(wheel.size, 2)
  clock.tick(200)
  wheel.remove('x')
  wheel.remove('x')
  fired.length = 0
  clock.tick(1000)
  t.notOk(fired.includes('x'))
  t.ok(fired.filter((f) => f === 'y').length >= 4)
  wheel.clear()
  t.equal(clock.pending(), 0)
})

t.test('items added or removed while a slot fires keep the cadence', async (t) => {
  const clock = fakeClock()
  const fired: Array<{ item: string, at: number }> = []
  let wheel: TimerWheel<string> | null = null
  wheel = new TimerWheel<string>({
    periodMs: 1000,
    clock,
    onFire: (items, now) => {
      for (const item of items) {
        fired.push({ item, at: now })
        if (item === 'a' && wheel?.has('late') === false) { wheel.add('late'); wheel.remove('a') }
      }
    }
  })
  wheel.add('a')
  const start = clock.now()
  clock.tick(1000)
  t.equal(wheel.has('a'), false)
  t.equal(wheel.has('late'), true)
  clock.tick(1000)
  const late = fired.filter((f) => f.item === 'late').map((f) => f.at - start)
  t.equal(late.length, 1)
  t.ok(Math.abs((late[0] ?? 0) - 2000) <= wheel.slotMs, `added while firing, fires a period later: ${late.join(',')}`)
  t.equal(clock.pending(), 1)
})

t.test('after a long stall each slot fires at most once (no replay burst)', async (t) => {
  const clock = fakeClock()
  let calls = 0
  const wheel = new TimerWheel<number>({ periodMs: 100, clock, onFire: () => { calls++ } })
  wheel.add(1)
  clock.tick(10_000)
  t.ok(calls >= 90 && calls <= 101, `fired ${calls} times in 100 periods`)
})

t.test('slot geometry follows the period', async (t) => {
  t.equal(new TimerWheel({ periodMs: 3000, onFire: () => {} }).slotCount, 256)
  t.equal(new TimerWheel({ periodMs: 100, onFire: () => {} }).slotCount, 20)
  t.equal(new TimerWheel({ periodMs: 4, onFire: () => {} }).slotCount, 1)
})
