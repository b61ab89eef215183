/**
 * A fake clock for the timer wheels (TimerWheel, DeadlineWheel) and what runs on them: time moves
 * only when a test says so, and the clock counts what the wheel does with timers (armed, pending,
 * unref'd, run), so a test can show one timer serving many items.
 */
import FakeTimers from '@sinonjs/fake-timers'
import type { WheelClock, WheelTimer } from '../../src/node/timer-wheel.js'

/** A {@link WheelClock} on fake time, with counters. */
export interface FakeWheelClock extends WheelClock {
  /** Move time on by `ms`, running the timers due. */
  tick: (ms: number) => void
  /** Move time on by `ms` without running any timer: the event loop was blocked that long. */
  block: (ms: number) => void
  /** Timers armed right now. */
  pending: () => number
  /** Timers ever armed. */
  armed: number
  /** `unref()` calls on timers. */
  unrefs: number
  /** Timer callbacks run so far. */
  callbacks: number
}

/** A fake clock starting at `start` (epoch ms). */
export function fakeWheelClock (start = 1_000_000): FakeWheelClock {
  const clock = FakeTimers.createClock(start)
  const handles = new Map<WheelTimer, ReturnType<typeof clock.setTimeout>>()
  const fake: FakeWheelClock = {
    armed: 0,
    unrefs: 0,
    callbacks: 0,
    now: () => clock.now,
    setTimeout: (callback, delayMs) => {
      const handle: WheelTimer = { unref: () => { fake.unrefs++ } }
      fake.armed++
      handles.set(handle, clock.setTimeout(() => { handles.delete(handle); fake.callbacks++; callback() }, delayMs))
      return handle
    },
    clearTimeout: (handle) => {
      const id = handles.get(handle)
      if (id !== undefined) clock.clearTimeout(id)
      handles.delete(handle)
    },
    tick: (ms) => { clock.tick(ms) },
    // setSystemTime moves the clock (and pending timers with it) without running anything.
    block: (ms) => { clock.setSystemTime(clock.now + ms) },
    pending: () => handles.size
  }
  return fake
}
