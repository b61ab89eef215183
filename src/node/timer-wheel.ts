/**
 * A hashed timer wheel: one timer drives a periodic callback for any number of items.
 *
 * The tutorial's server ran one `setInterval` per socket. Here every item (a connection) sits in one
 * of `slotCount` slots chosen by when it was added, and a single unref'd timer walks the slots, so
 * 20k sockets cost one timer, their work is batched per slot, and load is spread over the period
 * instead of landing in one burst. When the wheel is empty the timer is cleared, so an idle server
 * holds no timer at all.
 */

/** The slice of the timer API the wheel needs; injectable so tests can drive it with a fake clock. */
export interface WheelClock {
  now: () => number
  setTimeout: (callback: () => void, delayMs: number) => WheelTimer
  clearTimeout: (timer: WheelTimer) => void
}

/** What `setTimeout` returns, as far as the wheel cares. */
export interface WheelTimer {
  unref?: () => unknown
}

/**
 * Where a wheel records the slot of each item: `get`, `set` and `delete`, as a `Map` has them
 * (a `Map` is the default). An owner of many long-lived items can keep the slot in a field of the
 * item instead, which costs a few bytes where a `Map` entry costs tens (see ticker.ts).
 */
export interface SlotIndex<T> {
  /** The item's slot, or undefined when it is not on the wheel. */
  get: (item: T) => number | undefined
  set: (item: T, slot: number) => void
  delete: (item: T) => void
}

/** Options of a {@link TimerWheel}. */
export interface TimerWheelOptions<T> {
  /** How often each item fires, in milliseconds. */
  periodMs: number
  /** Called once per slot with the items due in it (never with an empty set). */
  onFire: (items: ReadonlySet<T>, now: number) => void
  /** Upper bound on the number of slots. @default 256 */
  maxSlots?: number
  /**
   * Lower bound on a slot's length in milliseconds. @default 5
   * Short slots keep each burst small (at 5k sockets × 10 Hz a slot holds 250 sockets, not 1,000),
   * which bounds tick latency; each slot costs one timer turn and one tick payload per period.
   */
  minSlotMs?: number
  /** Time source. @default the global timers and `Date.now` */
  clock?: WheelClock
  /** Where each item's slot is recorded. @default a new `Map` */
  slotIndex?: SlotIndex<T>
}

const realClock: WheelClock = {
  now: () => Date.now(),
  setTimeout: (callback, delayMs) => setTimeout(callback, delayMs),
  clearTimeout: (timer) => clearTimeout(timer as ReturnType<typeof setTimeout>)
}

/**
 * Fires `onFire` for every item once per `periodMs`, with a single timer for all items.
 * An item first fires about one period after it was added.
 */
export class TimerWheel<T> {
  /** Period of every item, in milliseconds. */
  readonly periodMs: number
  /** Number of slots the period is divided into. */
  readonly slotCount: number
  /** Length of one slot, in milliseconds. */
  readonly slotMs: number

  readonly #slots: Array<Set<T>>
  /** Slot of each item on the wheel; -1 for an item added while a slot fires (see `add`). */
  readonly #slotOf: SlotIndex<T>
  #size = 0
  readonly #onFire: TimerWheelOptions<T>['onFire']
  readonly #clock: WheelClock
  #cursor = 0
  #nextFireAt = 0
  #timer: WheelTimer | null = null
  #firing = false
  /** Items added while a slot fires; they join that slot after it, not during its iteration. */
  readonly #addedWhileFiring: T[] = []

  constructor (options: TimerWheelOptions<T>) {
    const minSlotMs = options.minSlotMs ?? 5
    this.periodMs = options.periodMs
    this.slotCount = Math.max(1, Math.min(options.maxSlots ?? 256, Math.floor(options.periodMs / minSlotMs)))
    this.slotMs = options.periodMs / this.slotCount
    this.#slots = Array.from({ length: this.slotCount }, () => new Set<T>())
    this.#onFire = options.onFire
    this.#clock = options.clock ?? realClock
    this.#slotOf = options.slotIndex ?? new Map<T, number>()
  }

  /** Number of items on the wheel. */
  get size (): number {
    return this.#size
  }

  /** Whether the wheel's timer is currently scheduled. */
  get running (): boolean {
    return this.#timer !== null
  }

  /** Whether `item` is on the wheel. */
  has (item: T): boolean {
    return this.#slotOf.get(item) !== undefined
  }

  /**
   * Put an item on the wheel. It goes into the slot that fires last, so its first call comes about
   * one period from now. Adding an item already present does nothing.
   */
  add (item: T): void {
    if (this.#slotOf.get(item) !== undefined) return
    this.#size++
    if (this.#firing) {
      // The slot being fired is the one that fires last from now, but adding to a Set while it is
      // iterated would fire the new item at once: hold it until the iteration ends.
      this.#addedWhileFiring.push(item)
      this.#slotOf.set(item, -1)
      return
    }
    const slot = (this.#cursor + this.slotCount - 1) % this.slotCount
    this.#slots[slot]?.add(item)
    this.#slotOf.set(item, slot)
    // While firing, #onTimer reschedules itself; starting here would reset the cadence.
    if (this.#timer === null && !this.#firing) this.#start()
  }

  /** Take an item off the wheel; the timer stops when the last one goes. */
  remove (item: T): void {
    const slot = this.#slotOf.get(item)
    if (slot === undefined) return
    this.#slotOf.delete(item)
    this.#size--
    if (slot === -1) {
      this.#addedWhileFiring.splice(this.#addedWhileFiring.indexOf(item), 1)
    } else {
      this.#slots[slot]?.delete(item)
    }
    if (this.#size === 0) this.#stopTimer()
  }

  /** Remove every item and clear the timer. */
  clear (): void {
    for (const slot of this.#slots) {
      for (const item of slot) this.#slotOf.delete(item)
      slot.clear()
    }
    for (const item of this.#addedWhileFiring) this.#slotOf.delete(item)
    this.#addedWhileFiring.length = 0
    this.#size = 0
    this.#stopTimer()
  }

  #start (): void {
    this.#nextFireAt = this.#clock.now() + this.slotMs
    this.#schedule(this.slotMs)
  }

  #schedule (delayMs: number): void {
    const timer = this.#clock.setTimeout(() => this.#onTimer(), Math.max(0, delayMs))
    // An unref'd timer never keeps the process alive on its own (graceful shutdown relies on it).
    timer.unref?.()
    this.#timer = timer
  }

  #stopTimer (): void {
    if (this.#timer === null) return
    this.#clock.clearTimeout(this.#timer)
    this.#timer = null
  }

  #onTimer (): void {
    this.#timer = null
    const startedAt = this.#clock.now()
    // After a long event-loop stall, do not replay every missed turn: fire each slot at most once.
    if (startedAt - this.#nextFireAt > this.periodMs) this.#nextFireAt = startedAt - this.periodMs + this.slotMs
    // Only the slots due when this turn began: slots that fall due while these fire wait for the
    // next turn, so an overloaded server still polls I/O (accepts, reads, pongs) between rounds
    // instead of firing slot after slot without end.
    while (startedAt >= this.#nextFireAt && this.#size > 0) {
      const due = this.#slots[this.#cursor]
      this.#cursor = (this.#cursor + 1) % this.slotCount
      this.#nextFireAt += this.slotMs
      if (due !== undefined && due.size > 0) this.#fire(due, this.#clock.now())
    }
    if (this.#size > 0 && this.#timer === null) this.#schedule(this.#nextFireAt - this.#clock.now())
  }

  #fire (due: ReadonlySet<T>, now: number): void {
    this.#firing = true
    try {
      this.#onFire(due, now)
    } finally {
      this.#firing = false
      const slot = (this.#cursor + this.slotCount - 1) % this.slotCount
      for (const item of this.#addedWhileFiring) {
        this.#slots[slot]?.add(item)
        this.#slotOf.set(item, slot)
      }
      this.#addedWhileFiring.length = 0
    }
  }
}
