/**
 * One-shot deadlines for any number of items on one timer: a token that expires, a client that
 * must authenticate in time, an RPC that must answer in time.
 *
 * Deadlines are rounded UP to a coarse bucket (`bucketMs`), never fire early, and every item due
 * in the same bucket shares it: ten thousand sockets whose tokens expire in the same second are
 * one bucket (one Set) and one armed timer, not ten thousand timers. The one timer is armed for
 * the earliest bucket, unref'd, and cleared when nothing is left, so an idle server holds none.
 * Like {@link TimerWheel} (the periodic one), the clock is injectable and an item's bucket may
 * live in a field of the item ({@link SlotIndex}) instead of a Map entry.
 */
import type { SlotIndex, WheelClock, WheelTimer } from './timer-wheel.js'

/** Options of a {@link DeadlineWheel}. */
export interface DeadlineWheelOptions<T> {
  /** Width of a bucket in milliseconds: deadlines are rounded up to a multiple of it. */
  bucketMs: number
  /** Called once per due bucket with its items (never empty); each is off the wheel by then, so it may be scheduled again. */
  onExpire: (items: ReadonlySet<T>, now: number) => void
  /** Time source. @default the global timers and `Date.now` */
  clock?: WheelClock
  /** Where each item's bucket is recorded. @default a new `Map` */
  slotIndex?: SlotIndex<T>
}

/** The longest delay `setTimeout` takes (about 24.8 days); a later deadline re-arms on waking. */
const MAX_DELAY_MS = 2 ** 31 - 1

const realClock: WheelClock = {
  now: () => Date.now(),
  setTimeout: (callback, delayMs) => setTimeout(callback, delayMs),
  clearTimeout: (timer) => clearTimeout(timer as ReturnType<typeof setTimeout>)
}

/** See the module comment. */
export class DeadlineWheel<T> {
  /** Width of a bucket, in milliseconds. */
  readonly bucketMs: number
  /** Items by bucket: the key is the bucket's end (epoch ms, a multiple of `bucketMs`). */
  readonly #buckets = new Map<number, Set<T>>()
  readonly #slotOf: SlotIndex<T>
  readonly #onExpire: DeadlineWheelOptions<T>['onExpire']
  readonly #clock: WheelClock
  #size = 0
  #timer: WheelTimer | null = null
  /** The bucket the timer is armed for (Infinity: none). */
  #armedFor = Infinity
  #firing = false

  constructor (options: DeadlineWheelOptions<T>) {
    this.bucketMs = Math.max(1, options.bucketMs)
    this.#onExpire = options.onExpire
    this.#clock = options.clock ?? realClock
    this.#slotOf = options.slotIndex ?? new Map<T, number>()
  }

  /** Items waiting for their deadline. */
  get size (): number {
    return this.#size
  }

  /** Buckets holding at least one item (what the wheel costs beyond its items). */
  get buckets (): number {
    return this.#buckets.size
  }

  /** Whether the wheel's one timer is armed. */
  get running (): boolean {
    return this.#timer !== null
  }

  /** Whether `item` has a deadline. */
  has (item: T): boolean {
    return this.#slotOf.get(item) !== undefined
  }

  /** Give `item` a deadline at epoch ms `at` (replacing the one it had); it fires in the bucket that ends at or after `at`. */
  schedule (item: T, at: number): void {
    this.cancel(item)
    const key = Math.ceil(at / this.bucketMs) * this.bucketMs
    let bucket = this.#buckets.get(key)
    if (bucket === undefined) {
      bucket = new Set()
      this.#buckets.set(key, bucket)
    }
    bucket.add(item)
    this.#slotOf.set(item, key)
    this.#size++
    // While firing, the turn re-arms once at its end.
    if (!this.#firing && key < this.#armedFor) this.#arm(key)
  }

  /** Take `item`'s deadline away (no-op without one); the timer stops when the last item goes. */
  cancel (item: T): void {
    const key = this.#slotOf.get(item)
    if (key === undefined) return
    this.#slotOf.delete(item)
    this.#size--
    const bucket = this.#buckets.get(key)
    if (bucket !== undefined) {
      bucket.delete(item)
      if (bucket.size === 0) this.#buckets.delete(key)
    }
    if (this.#size === 0) this.#disarm()
  }

  /** Forget every deadline and clear the timer. */
  clear (): void {
    for (const bucket of this.#buckets.values()) {
      for (const item of bucket) this.#slotOf.delete(item)
    }
    this.#buckets.clear()
    this.#size = 0
    this.#disarm()
  }

  #arm (key: number): void {
    this.#disarm()
    this.#armedFor = key
    const timer = this.#clock.setTimeout(() => this.#onTimer(), Math.min(MAX_DELAY_MS, Math.max(0, key - this.#clock.now())))
    // An unref'd timer never keeps the process alive on its own (graceful shutdown relies on it).
    timer.unref?.()
    this.#timer = timer
  }

  #disarm (): void {
    if (this.#timer !== null) this.#clock.clearTimeout(this.#timer)
    this.#timer = null
    this.#armedFor = Infinity
  }

  #onTimer (): void {
    this.#timer = null
    this.#armedFor = Infinity
    const now = this.#clock.now()
    const due = [...this.#buckets.keys()].filter((key) => key <= now).sort((a, b) => a - b)
    this.#firing = true
    try {
      for (const key of due) {
        const bucket = this.#buckets.get(key)
        if (bucket === undefined) continue
        // Off the wheel before the callback, so it may schedule an item again.
        this.#buckets.delete(key)
        for (const item of bucket) this.#slotOf.delete(item)
        this.#size -= bucket.size
        this.#onExpire(bucket, now)
      }
    } finally {
      this.#firing = false
      let earliest = Infinity
      for (const key of this.#buckets.keys()) if (key < earliest) earliest = key
      if (earliest !== Infinity) this.#arm(earliest)
    }
  }
}
