import t from 'tap'
import { TimerWheel, type WheelClock } from '../../src/node/timer-wheel.js'
import { fakeWheelClock, type FakeWheelClock } from '../helpers/fake-wheel-clock.js'

interface Fire { items: string[], at: number }

function wheel (periodMs: number, extra: { maxSlots?: number, minSlotMs?: number } = {}): { wheel: TimerWheel<string>, fires: Fire[], fake: FakeWheelClock } {
  const fake = fakeWheelClock()
  const fires: Fire[] = []
  const w = new TimerWheel<string>({ periodMs, onFire: (items, at) => { fires.push({ items: [...items], at }) }, clock: fake, ...extra })
  return { wheel: w, fires, fake }
}

t.test('slots: bounded by maxSlots and minSlotMs', async (t) => {
  t.equal(wheel(3000).wheel.slotCount, 256, '3 s: 256 slots')
  t.equal(wheel(100).wheel.slotCount, 20, '100 ms: slots no shorter than 5 ms')
  t.equal(wheel(4).wheel.slotCount, 1, 'shorter than one slot: a single slot')
  t.equal(wheel(1000, { maxSlots: 10 }).wheel.slotMs, 100)
})

t.test('no timer while empty; one timer, unref\'d, for any number of items', async (t) => {
  const { wheel: w, fake } = wheel(1000)
  t.equal(w.running, false)
  t.equal(fake.pending(), 0, 'an empty wheel holds no timer')
  for (let i = 0; i < 500; i++) w.add(`item-${i}`)
  t.equal(w.size, 500)
  t.equal(fake.pending(), 1, 'one timer for 500 items')
  t.equal(fake.unrefs, 1, 'and it is unref\'d')
  fake.tick(5000)
  t.equal(fake.pending(), 1, 'still one timer after firing')
  t.ok(fake.unrefs > 1, 'every rescheduled timer is unref\'d')
  for (let i = 0; i < 500; i++) w.remove(`item-${i}`)
  t.equal(w.running, false)
  t.equal(fake.pending(), 0, 'the last remove clears the timer')
  w.add('again')
  t.equal(fake.pending(), 1)
  w.clear()
  t.equal(w.size, 0)
  t.equal(fake.pending(), 0, 'clear() clears the timer')
})

t.test('each item fires once per period, the first time about one period after it was added', async (t) => {
  const { wheel: w, fires, fake } = wheel(1000)
  const addedAt = fake.now()
  w.add('a')
  fake.tick(1000 - w.slotMs - 1)
  t.equal(fires.length, 0, 'not before (period - one slot)')
  fake.tick(w.slotMs + 1)
  t.equal(fires.length, 1, 'by one period')
  t.ok((fires[0]?.at ?? 0) - addedAt <= 1000)
  fake.tick(9000)
  t.equal(fires.length, 10, 'ten periods, ten fires')
  const gaps = fires.slice(1).map((fire, i) => fire.at - (fires[i]?.at ?? 0))
  t.same(new Set(gaps), new Set([1000]), 'exactly one period apart')
  t.equal(w.has('a'), true)
  w.remove('a')
  t.equal(w.has('a'), false)
  fake.tick(5000)
  t.equal(fires.length, 10, 'a removed item never fires again')
})

t.test('items are spread over slots by add time and batched per slot, in add order', async (t) => {
  const { wheel: w, fires, fake } = wheel(1000, { maxSlots: 10 })
  // Two items per 100 ms slot, added over one period.
  for (let slot = 0; slot < 10; slot++) {
    w.add(`s${slot}-a`)
    w.add(`s${slot}-b`)
    fake.tick(100)
  }
  fires.length = 0
  fake.tick(1000)
  t.equal(fires.length, 10, 'one call per slot, not per item')
  // The period just ended with s0's slot; the next one runs s1…s9, then s0 again.
  const order = [1, 2, 3, 4, 5, 6, 7, 8, 9, 0]
  t.same(fires.map((fire) => fire.items), order.map((slot) => [`s${slot}-a`, `s${slot}-b`]), 'same-slot items together, slots in add order')
  const ats = fires.map((fire) => fire.at)
  t.same(ats, [...ats].sort((a, b) => a - b), 'in time order')
  t.equal(new Set(ats).size, 10, 'load spread over the period, not one burst')
})

t.test('adding twice does nothing; removing an unknown item does nothing', async (t) => {
  const { wheel: w, fires, fake } = wheel(1000)
  w.add('a')
  w.add('a')
  w.remove('nope')
  t.equal(w.size, 1)
  fake.tick(1000)
  t.same(fires.map((fire) => fire.items), [['a']])
})

t.test('changes made from inside onFire keep the cadence', async (t) => {
  const fake = fakeWheelClock()
  const fires: Array<{ items: string[], at: number }> = []
  const w: TimerWheel<string> = new TimerWheel<string>({
    periodMs: 1000,
    clock: fake,
    onFire: (items, at) => {
      fires.push({ items: [...items], at })
      // Removing the item being fired and adding another, mid-iteration.
      if (items.has('a')) { w.remove('a'); w.add('b') }
    }
  })
  w.add('a')
  fake.tick(1000)
  t.same(fires.map((fire) => fire.items), [['a']])
  t.equal(fake.pending(), 1, 'still one timer')
  fake.tick(1000)
  t.same(fires.map((fire) => fire.items), [['a'], ['b']], 'the item added during a fire fires one period later')
  t.equal((fires[1]?.at ?? 0) - (fires[0]?.at ?? 0), 1000)
})

t.test('after a long stall each slot fires once (missed turns are not replayed)', async (t) => {
  const { wheel: w, fires, fake } = wheel(1000, { maxSlots: 10 })
  for (let slot = 0; slot < 10; slot++) {
    w.add(`s${slot}`)
    fake.tick(100)
  }
  fires.length = 0
  // An event-loop stall: ten periods pass without the timer running.
  fake.block(10_000)
  fake.tick(100)
  const perItem = new Map<string, number>()
  for (const fire of fires) for (const item of fire.items) perItem.set(item, (perItem.get(item) ?? 0) + 1)
  t.equal(perItem.size, 10, 'every item fired')
  t.same(new Set(perItem.values()), new Set([1]), 'once each, not ten times')
  fires.length = 0
  fake.tick(1000)
  t.equal(fires.length, 10, 'then the normal cadence resumes')
})

t.test('slots that fall due while a turn fires wait for the next turn (the event loop gets a say)', async (t) => {
  const fake = fakeWheelClock()
  const turns: number[] = []
  let timerCallbacks = 0
  const clock: WheelClock = {
    ...fake,
    setTimeout: (callback, delayMs) => fake.setTimeout(() => { timerCallbacks++; callback() }, delayMs)
  }
  // Every fire takes longer than a slot (an overloaded server): a wheel that kept firing whatever
  // fell due meanwhile would never return from its timer callback.
  const w = new TimerWheel<string>({
    periodMs: 1000,
    maxSlots: 10,
    clock,
    onFire: () => { turns.push(timerCallbacks); fake.block(150) }
  })
  for (let slot = 0; slot < 10; slot++) {
    w.add(`s${slot}`)
    fake.tick(100)
  }
  turns.length = 0
  timerCallbacks = 0
  fake.tick(1000)
  const perCallback = new Map<number, number>()
  for (const turn of turns) perCallback.set(turn, (perCallback.get(turn) ?? 0) + 1)
  t.ok(perCallback.size >= 2, `work spread over several timer callbacks (${perCallback.size})`)
  t.ok(Math.max(...perCallback.values()) <= w.slotCount, 'no callback fires more than one period of slots')
})
