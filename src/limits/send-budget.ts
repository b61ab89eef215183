/**
 * The slow-consumer policy: how much a connection may have waiting to be written to the network
 * (ws's `bufferedAmount`), and what happens to a frame that would go past it.
 *
 * What is judged is what the client failed to take, not what this turn queued: frames written in
 * one event-loop turn are corked (transports/raw-frames.ts) and never offered to the kernel until
 * the turn ends, so a frame that would go past the budget first has the turn's corked bytes
 * offered to the kernel, and the verdict is taken on what the kernel left waiting.
 *
 * - `tick` frames are coalesced: only the newest waits, and it is sent when the socket drains.
 *   A stalled client therefore costs at most one pending tick, never a backlog.
 * - Every other frame (`message`) past the budget closes the socket with 4008 `slow consumer`:
 *   dropping it silently would corrupt ordered streams (channel offsets), queueing it would let a
 *   client that stops reading grow server memory without bound.
 *
 * The verdict is a pure function of byte counts so a fan-out path that frames a message once can
 * ask it for each socket without re-measuring the frame.
 */

/**
 * How a frame is treated when the budget is exhausted: a `tick` is coalesced, a `message` closes
 * the connection, and a `replay` (a recovery's or a rewind's publications, bounded by
 * `maxRecoveryReplay` and the channel's history) waits in the connection's backlog (send-backlog.ts)
 * and goes out as the socket drains.
 */
export type SendKind = 'tick' | 'message' | 'replay'

/** What to do with one frame for one socket. */
export type SendVerdict = 'send' | 'coalesce' | 'close' | 'queue'

/**
 * Decide whether a frame fits a connection's send budget.
 *
 * A frame is over budget when something is already waiting and the frame would take the total
 * past `maxBufferedBytes`. A socket with nothing waiting always accepts one frame, so a single
 * message larger than the budget still reaches a healthy client; memory per socket stays bounded
 * by `maxBufferedBytes` plus one frame.
 * @param bufferedBytes - the socket's `bufferedAmount`, after the turn's corked bytes were offered to the kernel
 * @param frameBytes - byte length of the frame
 * @param kind - `tick` (coalesced when over), `message` (closes when over) or `replay` (queued when over)
 * @param maxBufferedBytes - the budget
 */
export function judgeSend (bufferedBytes: number, frameBytes: number, kind: SendKind, maxBufferedBytes: number): SendVerdict {
  if (bufferedBytes === 0 || bufferedBytes + frameBytes <= maxBufferedBytes) return 'send'
  return kind === 'tick' ? 'coalesce' : kind === 'replay' ? 'queue' : 'close'
}

/**
 * Decide whether a live frame may wait behind a replay in a connection's backlog: the live bytes
 * waiting there may not go past `maxBufferedBytes` (one frame always may, as for the socket).
 * Past it the client stopped taking what it is sent, and is closed with 4008.
 * @param queuedLiveBytes - live bytes already waiting in the backlog
 * @param frameBytes - byte length of the frame
 * @param maxBufferedBytes - the budget
 */
export function judgeQueued (queuedLiveBytes: number, frameBytes: number, maxBufferedBytes: number): 'queue' | 'close' {
  return queuedLiveBytes === 0 || queuedLiveBytes + frameBytes <= maxBufferedBytes ? 'queue' : 'close'
}

/** The part of a net.Socket a {@link LatestTick} needs: its `drain` event. */
export interface DrainSource {
  once: (event: 'drain', listener: () => void) => unknown
  off: (event: 'drain', listener: () => void) => unknown
}

/** Whether `value` has the `once`/`off` of a {@link DrainSource} (a net.Socket has). */
export function isDrainSource (value: unknown): value is DrainSource {
  if (typeof value !== 'object' || value === null) return false
  const candidate = value as Partial<Record<keyof DrainSource, unknown>>
  return typeof candidate.once === 'function' && typeof candidate.off === 'function'
}

/**
 * Holds the newest coalesced tick of one connection and hands it back when the socket drains.
 * Made only for connections that actually stalled, so a healthy connection pays nothing.
 */
export class LatestTick<F> {
  #frame: F | null = null
  #armed = false
  readonly #source: DrainSource | null
  readonly #deliver: (frame: F) => void
  readonly #onDrain = (): void => {
    this.#armed = false
    const frame = this.#frame
    this.#frame = null
    if (frame !== null) this.#deliver(frame)
  }

  /**
   * @param source - the socket whose `drain` releases the tick; null: the tick waits for the next one
   * @param deliver - sends the held frame (through the budget again)
   */
  constructor (source: DrainSource | null, deliver: (frame: F) => void) {
    this.#source = source
    this.#deliver = deliver
  }

  /** Whether a tick is waiting. */
  get pending (): boolean {
    return this.#frame !== null
  }

  /** Keep `frame` instead of any older waiting tick. */
  hold (frame: F): void {
    this.#frame = frame
    if (!this.#armed && this.#source !== null) {
      this.#armed = true
      this.#source.once('drain', this.#onDrain)
    }
  }

  /** Forget the waiting tick (a newer one was sent directly). */
  drop (): void {
    this.#frame = null
  }

  /** Remove the drain listener (the connection closed). */
  dispose (): void {
    this.#frame = null
    if (this.#armed) this.#source?.off('drain', this.#onDrain)
    this.#armed = false
  }
}
