/**
 * Per-connection inbound message rate: a token bucket, plus a count of strikes so that a client
 * that keeps sending past its rate is closed (1008) instead of being answered forever.
 */
import { TokenBucket } from './token-bucket.js'

/** Rejected messages in a row (no accepted message in between) after which the socket is closed. */
export const RATE_LIMIT_STRIKES = 10

/** What to do with one inbound message. */
export type RateVerdict = 'accept' | 'reject' | 'close'

/**
 * The message rate limit of one connection: its own token bucket (one object, not a bucket
 * wrapped in another; the `rate` is shared by every connection of a node).
 */
export class MessageRate extends TokenBucket {
  #strikes = 0

  /** Rejected messages since the last accepted one. */
  get strikes (): number {
    return this.#strikes
  }

  /**
   * Account for one inbound message.
   * @returns `accept`; `reject` (answer with `rate_limited`, drop it); or `close` (continued abuse)
   */
  check (): RateVerdict {
    if (this.take()) {
      this.#strikes = 0
      return 'accept'
    }
    this.#strikes++
    return this.#strikes >= RATE_LIMIT_STRIKES ? 'close' : 'reject'
  }
}
