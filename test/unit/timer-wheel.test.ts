import t from 'tap'
import { TimerWheel, type WheelClock } from '../../src/node/timer-wheel.js'
import { fakeWheelClock as fakeClock } from '../helpers/fake-wheel-clock.js'

/** The real clock, counting the timer callbacks it runs. */
function countingRealClock (): WheelClock & { callbacks: number } {
  const real: WheelClock & { callbacks: number } = {
    callbacks: 0,
    now: () => Date.now(),
    setTimeout: (callback, delayMs) => setTimeout(() => { real.callbacks++; callback() }, delayMs),
    clearTimeout: (timer) => { clearTimeout(timer as ReturnType<typeof setTimeout>) }
  }
  return real
}

/** How many times each item fired, per timer callback. */
function firesPerCallback (fires: ReadonlyArray<{ item: string, callback: number }>, callback: number): Map<string, number> {
  const counts = new Map<string, number>()
  for (const fire of fires) if (fire.callback === callback) counts.set(fire.item, (counts.get(fire.item) ?? 0) + 1)
  return counts
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

t.test('over 100 periods on time, an item fires about once per period', async (t) => {
  const clock = fakeClock()
  let calls = 0
  const wheel = new TimerWheel<number>({ periodMs: 100, clock, onFire: () => { calls++ } })
  wheel.add(1)
  clock.tick(10_000)
  t.ok(calls >= 90 && calls <= 101, `fired ${calls} times in 100 periods`)
})

t.test('after a stall of ten periods inside a callback, each item fires at most once, then the cadence resumes', async (t) => {
  const clock = fakeClock()
  const PERIOD = 100
  const fires: Array<{ item: string, at: number, callback: number }> = []
  let blockFor = 0
  let stallCallback = -1
  const wheel = new TimerWheel<string>({
    periodMs: PERIOD,
    maxSlots: 10,
    clock,
    onFire: (items, now) => {
      for (const item of items) fires.push({ item, at: now, callback: clock.callbacks })
      // This callback blocks the event loop (a long GC, a synchronous job): time runs on, no timer runs.
      if (blockFor > 0) {
        clock.block(blockFor)
        blockFor = 0
        stallCallback = clock.callbacks
      }
    }
  })
  const items = Array.from({ length: 10 }, (_, i) => `s${i}`)
  for (const item of items) {
    wheel.add(item) // one item per 10 ms slot
    clock.tick(PERIOD / 10)
  }
  clock.tick(PERIOD)
  fires.length = 0
  blockFor = 10 * PERIOD
  const stalledAt = clock.now()
  // The next slot fires and its callback blocks for ten periods; the wheel's next turn is then
  // overdue by ten periods (a timer runs 1 ms after it is set, at the soonest).
  clock.tick(PERIOD / 10)
  t.equal(clock.now() - stalledAt, 10 * PERIOD + PERIOD / 10, 'the stall happened: ten periods passed inside one callback')
  clock.tick(1)
  t.ok(stallCallback > 0 && clock.callbacks === stallCallback + 1, 'the wheel took its overdue turn')
  const catchUp = firesPerCallback(fires, stallCallback + 1)
  t.same([...catchUp.keys()].sort(), items, 'the overdue turn fires every slot that fell due')
  t.same(new Set(catchUp.values()), new Set([1]), 'each item once in the overdue turn, not once per missed period (ten)')
  fires.length = 0
  clock.tick(5 * PERIOD)
  for (const item of items) {
    const ats = fires.filter((fire) => fire.item === item).map((fire) => fire.at)
    t.equal(ats.length, 5, `${item}: then once per period`)
    t.same(new Set(ats.slice(1).map((at, i) => at - (ats[i] ?? 0))), new Set([PERIOD]), `${item}: exactly one period apart`)
  }
  t.equal(clock.pending(), 1, 'still one timer')
})

t.test('on the real clock, a busy loop longer than ten periods is not replayed as a burst', async (t) => {
  const PERIOD = 100
  const clock = countingRealClock()
  const fires: Array<{ item: string, at: number, callback: number }> = []
  const wheel = new TimerWheel<string>({ periodMs: PERIOD, clock, onFire: (items, now) => { for (const item of items) fires.push({ item, at: now, callback: clock.callbacks }) } })
  t.teardown(() => { wheel.clear() })
  const items = Array.from({ length: 5 }, (_, i) => `item-${i}`)
  for (const item of items) {
    wheel.add(item)
    await new Promise((resolve) => setTimeout(resolve, PERIOD / 5))
  }
  while (items.some((item) => !fires.some((fire) => fire.item === item))) await new Promise((resolve) => setTimeout(resolve, 10))
  // A real stall: the event loop is busy for more than ten periods, no timer can run.
  const stallStarted = Date.now()
  const callbacksBefore = clock.callbacks
  while (Date.now() - stallStarted < 10 * PERIOD + PERIOD / 2) { /* busy */ }
  const stallEnded = Date.now()
  t.equal(clock.callbacks, callbacksBefore, 'no turn ran during the stall')
  fires.length = 0
  while (clock.callbacks === callbacksBefore && Date.now() - stallEnded < 5000) await new Promise((resolve) => setTimeout(resolve, 1))
  t.ok(clock.callbacks > callbacksBefore, 'the overdue turn ran once the loop was free')
  const catchUp = firesPerCallback(fires, callbacksBefore + 1)
  t.ok(catchUp.size > 0 && [...catchUp.values()].every((count) => count === 1), `each item at most once in the overdue turn (${JSON.stringify([...catchUp])})`)
  // Then the wheel keeps going: every item fires again, never faster than its period allows.
  const deadline = Date.now() + 5000
  while (items.some((item) => fires.filter((fire) => fire.item === item).length < 4) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10))
  const elapsed = Date.now() - stallEnded
  for (const item of items) {
    const count = fires.filter((fire) => fire.item === item).length
    t.ok(count >= 4, `${item}: fired ${count} times since the stall (the cadence resumed)`)
    t.ok(count <= elapsed / PERIOD + 2, `${item}: no more than one per period of the ${elapsed} ms since (${count})`)
  }
})

t.test('slot geometry follows the period', async (t) => {
  t.equal(new TimerWheel({ periodMs: 3000, onFire: () => {} }).slotCount, 256)
  t.equal(new TimerWheel({ periodMs: 100, onFire: () => {} }).slotCount, 20)
  t.equal(new TimerWheel({ periodMs: 4, onFire: () => {} }).slotCount, 1)
})
