/**
 * What a resumable WebSocket wrote to its TCP stream, so that the positions it leaves behind are
 * those of frames that reached the network. Frames still queued in the process when this server
 * cuts the socket (a kill, a heartbeat timeout, a takeover, the end of a drain's grace) never
 * reach the client, so their positions are taken back.
 *
 * Every byte written to the stream after the ledger began is counted (frames, pings, pongs), and
 * the stream's own count when it began is its base, so the two line up with what the kernel took
 * ({@link handedToKernel}). Only the frames that were still queued are journaled. A connection
 * makes its ledger with its first frame that moves a position: an idle socket, or one that never
 * subscribes, pays for none (what it wrote before is in the base).
 */
import type { Position, StreamPositions } from '../recovery/stream-positions.js'
import type { FramePosition } from '../wire/ws-frame.js'

/** A frame that moved a channel while it was still queued in the process, and where the channel was before it. */
interface Queued {
  channel: string
  previous: Position | undefined
  /** Bytes written since the ledger began, this frame included. */
  end: number
}

/**
 * How many bytes of a TCP socket's stream have reached the kernel (and so reach the peer even if
 * the socket is destroyed now): what Node dispatched to libuv less what libuv still queues.
 * These are fields of Node's net.Socket (its own `bytesWritten` getter reads the first), not
 * public API; without them the answer is unknown. test/integration/resume/ checks them.
 */
export function handedToKernel (stream: unknown): number | undefined {
  const socket = stream as { _bytesDispatched?: unknown, _handle?: { writeQueueSize?: unknown } | null }
  if (typeof socket._bytesDispatched !== 'number') return undefined
  const queued = socket._handle?.writeQueueSize
  return socket._bytesDispatched - (typeof queued === 'number' ? queued : 0)
}

/** See the module comment. */
export class SentLedger {
  /** The stream's `bytesWritten` when the ledger began. */
  readonly #base: number
  /** Bytes written to the stream since. */
  #sent = 0
  /** Position changes whose frames may still be queued in the process, oldest first; made when one is. */
  #queued: Queued[] | null = null
  /** Bytes that had reached the kernel when this server cut the socket. */
  #handedAtCut: number | undefined = undefined

  /** @param base - the stream's `bytesWritten` now, before the first frame the ledger counts */
  constructor (base: number) {
    this.#base = base
  }

  /** ws wrote a control frame (a ping, or the pong that answers the client's ping) of `bytes`. */
  control (bytes: number): void {
    this.#sent += bytes
  }

  /**
   * A frame of `bytes` was written; `pending` bytes of the stream are still in the process. A frame
   * that moved `position` (from `previous`) is journaled while it may still be queued.
   */
  wrote (bytes: number, pending: number, position: FramePosition | undefined, previous: Position | undefined): void {
    this.#sent += bytes
    const queued = this.#queued
    if (queued !== null) {
      const flushed = this.#sent - pending
      while (queued.length > 0 && (queued[0]?.end ?? 0) <= flushed) queued.shift()
    }
    if (position !== undefined && pending > 0) (this.#queued ??= []).push({ channel: position.channel, previous, end: this.#sent })
  }

  /** This server is about to cut the socket: read how much reached the kernel while it still can. */
  cutting (stream: unknown): void {
    if (this.#queued !== null && this.#queued.length > 0) this.#handedAtCut = handedToKernel(stream)
  }

  /**
   * The socket closed: undo the positions of frames that were still queued (they were dropped).
   * @param written - the stream's `bytesWritten` now (used when the cut did not read the kernel's count)
   */
  takeBack (positions: StreamPositions, written: number | undefined): void {
    const queued = this.#queued
    const dispatched = this.#handedAtCut ?? written
    if (queued === null || queued.length === 0 || dispatched === undefined) return
    const handed = dispatched - this.#base
    for (let last = queued.at(-1); last !== undefined && last.end > handed; last = queued.at(-1)) {
      positions.revert(last.channel, last.previous)
      queued.pop()
    }
    queued.length = 0
  }
}
