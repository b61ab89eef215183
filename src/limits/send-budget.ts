/**
 * The slow-consumer policy: how much a connection may have waiting to be written to the network
 * (ws's `bufferedAmount`), and what happens to a frame that would go past it.
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

/** How a frame is treated when the budget is exhausted. */
export type SendKind = 'tick' | 'message'

/** What to do with one frame for one socket. */
export type SendVerdict = 'send' | 'coalesce' | 'close'

/**
 * Decide whether a frame fits a connection's send budget.
 *
 * A frame is over budget when something is already waiting and the frame would take the total
 * past `maxBufferedBytes`. A socket with nothing waiting always accepts one frame, so a single
 * message larger than the budget still reaches a healthy client; memory per socket stays bounded
 * by `maxBufferedBytes` plus one frame.
 * @param bufferedBytes - the socket's `bufferedAmount`
 * @param frameBytes - byte length of the frame
 * @param kind - `tick` (coalesced when over) or `message` (closes when over)
 * @param maxBufferedBytes - the budget
 */
export function judgeSend (bufferedBytes: number, frameBytes: number, kind: SendKind, maxBufferedBytes: number): SendVerdict {
  if (bufferedBytes === 0 || bufferedBytes + frameBytes <= maxBufferedBytes) return 'send'
  return kind === 'tick' ? 'coalesce' : 'close'
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
