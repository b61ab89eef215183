/**
 * Admission pacing: how many new connections a node takes in per second, from all clients
 * together. When a node restarts, every client it had comes back within a few seconds (the
 * jittered retry hints spread them over 0.5–5 s); each new connection costs a handshake, a
 * session read, and a recovery replay. Past the node's rate the newcomers wait their turn, in
 * order, instead of all being served at once: the node stays responsive, and nobody is refused
 * unless the line is longer than `maxWaitMs` (then 503 with a jittered `Retry-After`).
 *
 * One token bucket and one FIFO of waiters; one timer, armed only while someone waits. A waiter
 * that went away meanwhile (its socket closed) is skipped and costs no token.
 */
import { TokenBucket, type BucketRate, type Now } from './token-bucket.js'

/** Options of {@link Admission}. */
export interface AdmissionOptions extends BucketRate {
  /** Longest a newcomer may wait; one that would wait longer is refused at once. */
  maxWaitMs: number
  now?: Now
  random?: () => number
}

/** One newcomer asking for its turn. */
export interface Newcomer {
  /** Its turn came (at once when nobody waits and a token is free). */
  admit: () => void
  /** It will not get a turn: the node is closing ({@link Admission.cancelAll}). */
  cancel: () => void
  /** Whether it left meanwhile (its socket closed): its turn goes to the next one. */
  gone: () => boolean
}

/** Shortest step of the timer: under it, a burst of turns is handed out per firing instead. */
const MIN_STEP_MS = 10

/** See the module comment. */
export class Admission {
  readonly #bucket: TokenBucket
  readonly #rate: number
  readonly #maxWaitMs: number
  readonly #random: () => number
  readonly #queue: Newcomer[] = []
  /** Index of the first waiter still in the queue (the queue is compacted when it empties). */
  #head = 0
  #timer: ReturnType<typeof setTimeout> | null = null

  constructor (options: AdmissionOptions) {
    this.#bucket = new TokenBucket({ ratePerSec: options.ratePerSec, burst: options.burst }, options.now)
    this.#rate = options.ratePerSec
    this.#maxWaitMs = options.maxWaitMs
    this.#random = options.random ?? Math.random
  }

  /** Newcomers waiting for their turn. */
  get waiting (): number {
    return this.#queue.length - this.#head
  }

  /** Whether the timer is armed (for leak checks). */
  get timerArmed (): boolean {
    return this.#timer !== null
  }

  /**
   * Ask for a turn.
   * @returns null when admitted or queued; else the seconds to send as `Retry-After` (the line is too long)
   */
  request (newcomer: Newcomer): number | null {
    if (this.waiting === 0 && this.#bucket.take()) {
      newcomer.admit()
      return null
    }
    // Its turn comes once the tokens for everyone ahead of it (and itself) have refilled.
    const waitMs = 1000 * (this.waiting + 1 - this.#bucket.tokens) / this.#rate
    if (waitMs > this.#maxWaitMs) {
      // Spread the refused ones too: between the wait they would have had and twice that.
      return Math.max(1, Math.ceil(waitMs * (1 + this.#random()) / 1000))
    }
    this.#queue.push(newcomer)
    this.#arm()
    return null
  }

  /** Turn away everyone still waiting (the node is closing). */
  cancelAll (): void {
    this.#disarm()
    const waiting = this.#queue.slice(this.#head)
    this.#queue.length = 0
    this.#head = 0
    for (const newcomer of waiting) if (!newcomer.gone()) newcomer.cancel()
  }

  #arm (): void {
    if (this.#timer !== null) return
    const step = Math.max(MIN_STEP_MS, 1000 / this.#rate)
    this.#timer = setTimeout(() => {
      this.#timer = null
      this.#serve()
    }, step)
    this.#timer.unref()
  }

  #disarm (): void {
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#timer = null
  }

  #serve (): void {
    while (this.#head < this.#queue.length) {
      const waiter = this.#queue[this.#head]
      if (waiter === undefined) break
      if (waiter.gone()) {
        this.#head++
        continue
      }
      if (!this.#bucket.take()) break
      this.#head++
      waiter.admit()
    }
    if (this.#head >= this.#queue.length) {
      this.#queue.length = 0
      this.#head = 0
    } else {
      if (this.#head > 1024) {
        this.#queue.splice(0, this.#head)
        this.#head = 0
      }
      this.#arm()
    }
  }
}
