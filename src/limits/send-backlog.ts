/**
 * A connection's backlog: the frames waiting behind a replay that did not fit the socket's send
 * budget at once. A replay (a `since` recovery, a `rewind`, a resume, an event stream's
 * Last-Event-ID) is streamed with backpressure: its frames are written as the socket drains, and
 * every frame that comes for the connection meanwhile (live publications, answers) waits behind
 * it, so order is kept and nothing is sent twice or skipped.
 *
 * Made only for a connection whose replay met a full socket, and dropped once empty, so a healthy
 * connection pays nothing. What it holds is bounded: the replay's own frames by
 * `maxRecoveryReplay` (or the channel's history size for a rewind), the live frames behind them by
 * the send budget (send-budget.ts `judgeQueued`; past it the connection is closed with 4008).
 */

/** What the backlog needs of a frame: its size on the wire, and the channel whose position it moves. */
export interface BackloggedFrame {
  readonly bytes: { readonly length: number }
  readonly position?: { readonly channel: string } | undefined
}

/** See the module comment. */
export class SendBacklog<F extends BackloggedFrame> {
  #frames: F[] = []
  /** Which of {@link #frames} are live (counted against the budget), index for index. */
  #live: boolean[] = []
  #head = 0
  #liveBytes = 0
  /** Whether a wake-up is armed: the transport calls back once what it holds was written. */
  waiting = false

  /** Bytes of the live frames waiting (the replay's own frames are not counted). */
  get liveBytes (): number {
    return this.#liveBytes
  }

  /** How many frames wait. */
  get size (): number {
    return this.#frames.length - this.#head
  }

  /** The next frame to write, if any. */
  peek (): F | undefined {
    return this.#frames[this.#head]
  }

  /** Add a frame at the end. @param live - a live frame (counted against the budget), not the replay's own */
  push (frame: F, live: boolean): void {
    this.#frames.push(frame)
    this.#live.push(live)
    if (live) this.#liveBytes += frame.bytes.length
  }

  /** Take the next frame off (after it was written). */
  shift (): void {
    const frame = this.#frames[this.#head]
    if (frame === undefined) return
    if (this.#live[this.#head] === true) this.#liveBytes -= frame.bytes.length
    this.#head++
    // Compact now and then, so a long stream does not keep every written frame reachable.
    if (this.#head >= 1024 && this.#head * 2 >= this.#frames.length) {
      this.#frames = this.#frames.slice(this.#head)
      this.#live = this.#live.slice(this.#head)
      this.#head = 0
    }
  }

  /**
   * Forget the waiting frames that move `channel` (its client left it: nothing more of it is
   * owed). @returns how many were dropped
   */
  dropChannel (channel: string): number {
    const frames: F[] = []
    const live: boolean[] = []
    let dropped = 0
    for (let i = this.#head; i < this.#frames.length; i++) {
      const frame = this.#frames[i] as F
      const isLive = this.#live[i] === true
      if (frame.position?.channel === channel) {
        dropped++
        if (isLive) this.#liveBytes -= frame.bytes.length
        continue
      }
      frames.push(frame)
      live.push(isLive)
    }
    this.#frames = frames
    this.#live = live
    this.#head = 0
    return dropped
  }

  /** Forget everything (the connection ended). */
  clear (): void {
    this.#frames = []
    this.#live = []
    this.#head = 0
    this.#liveBytes = 0
  }
}
