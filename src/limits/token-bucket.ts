/**
 * Token buckets for rate limits: one bucket per connection for inbound messages, and a keyed set
 * of buckets (one per client IP) for upgrade handshakes.
 *
 * A bucket holds up to `burst` tokens and refills at `ratePerSec`; each event takes one token.
 * It is refilled lazily from the elapsed time when it is used, so a bucket needs no timer.
 */

/** Clock in milliseconds; injectable for tests. */
export type Now = () => number

/** Rate and burst of a bucket. */
export interface BucketRate {
  /** Tokens added per second (the sustained rate). */
  ratePerSec: number
  /** Bucket capacity (how many events may arrive at once). */
  burst: number
}

/** One token bucket. It starts full. */
export class TokenBucket {
  #tokens: number
  #updatedAt: number
  readonly #rate: BucketRate
  readonly #now: Now

  constructor (rate: BucketRate, now: Now = Date.now) {
    this.#rate = rate
    this.#now = now
    this.#tokens = rate.burst
    this.#updatedAt = now()
  }

  /** Tokens available now (fractional while refilling). */
  get tokens (): number {
    this.#refill()
    return this.#tokens
  }

  /** Whether the bucket is back to full, i.e. forgetting it would change nothing. */
  get full (): boolean {
    return this.tokens >= this.#rate.burst
  }

  /**
   * Take one token.
   * @returns true when the event is allowed, false when it is over the rate
   */
  take (): boolean {
    this.#refill()
    if (this.#tokens < 1) return false
    this.#tokens -= 1
    return true
  }

  #refill (): void {
    const now = this.#now()
    const elapsedMs = now - this.#updatedAt
    if (elapsedMs <= 0) return
    this.#updatedAt = now
    this.#tokens = Math.min(this.#rate.burst, this.#tokens + elapsedMs * this.#rate.ratePerSec / 1000)
  }
}

/**
 * Buckets by key (a client IP). Memory stays bounded without a timer: when the map grows past
 * `maxKeys`, full buckets (which carry no information) are dropped, then the oldest keys.
 */
export class KeyedTokenBuckets {
  readonly #buckets = new Map<string, TokenBucket>()
  readonly #rate: BucketRate
  readonly #now: Now
  readonly #maxKeys: number

  constructor (rate: BucketRate, options: { maxKeys?: number, now?: Now } = {}) {
    this.#rate = rate
    this.#now = options.now ?? Date.now
    this.#maxKeys = options.maxKeys ?? 10_000
  }

  /** Keys currently tracked. */
  get size (): number {
    return this.#buckets.size
  }

  /**
   * Take one token from `key`'s bucket.
   * @returns true when allowed
   */
  take (key: string): boolean {
    let bucket = this.#buckets.get(key)
    if (bucket === undefined) {
      if (this.#buckets.size >= this.#maxKeys) this.#prune()
      bucket = new TokenBucket(this.#rate, this.#now)
      this.#buckets.set(key, bucket)
    }
    return bucket.take()
  }

  /** Forget every bucket that has refilled completely. */
  sweep (): void {
    for (const [key, bucket] of this.#buckets) {
      if (bucket.full) this.#buckets.delete(key)
    }
  }

  #prune (): void {
    this.sweep()
    // Still full of active keys (a spread-out flood): drop the oldest to keep the bound.
    for (const key of this.#buckets.keys()) {
      if (this.#buckets.size < this.#maxKeys) break
      this.#buckets.delete(key)
    }
  }
}
