/**
 * Per-connection ticks, scheduled on one shared {@link TimerWheel}. Connections due in the same
 * slot form a batch: the `tick` data is produced once and the frame encoded once for the batch
 * per protocol in use ({@link FramesPerProtocol}), then the same bytes are written to each socket.
 */
import type { FastifyBaseLogger } from 'fastify'
import { connectionSlotIndex, type Connection } from './connection.js'
import type { RealtimeMetrics } from '../metrics/metrics.js'
import { FramesPerProtocol } from '../protocols/frames-per-protocol.js'
import { TimerWheel, type WheelClock } from './timer-wheel.js'

/** What the `tick` option receives for each batch of ticks. */
export interface TickContext {
  /** Open connections on this node. */
  connections: number
  /** Server time of the batch, epoch milliseconds. */
  now: number
}

/** Options of a {@link Ticker}. */
export interface TickerOptions {
  intervalMs: number
  produce: (context: TickContext) => unknown
  /** Open connections right now, handed to `produce`. */
  connectionCount: () => number
  log: FastifyBaseLogger
  /** Receives `frameOut('tick', bytes, count)` once per batch. */
  metrics?: RealtimeMetrics
  clock?: WheelClock
}

/** The ticker's wheel slot lives on the connection (no Map entry per socket). */
const TICK_SLOT = connectionSlotIndex('tickSlot')

/** Sends a tick to every scheduled connection once per interval, only while its socket is OPEN. */
export class Ticker {
  readonly #wheel: TimerWheel<Connection>
  readonly #produce: TickerOptions['produce']
  readonly #connectionCount: () => number
  readonly #log: FastifyBaseLogger
  readonly #metrics: RealtimeMetrics | undefined
  #seq = 0
  #sent = 0

  constructor (options: TickerOptions) {
    this.#produce = options.produce
    this.#connectionCount = options.connectionCount
    this.#log = options.log
    this.#metrics = options.metrics
    const wheelOptions = { periodMs: options.intervalMs, slotIndex: TICK_SLOT, onFire: (due: ReadonlySet<Connection>, now: number) => this.#sendBatch(due, now) }
    this.#wheel = new TimerWheel(options.clock ? { ...wheelOptions, clock: options.clock } : wheelOptions)
  }

  /** Ticks sent since start. */
  get sent (): number {
    return this.#sent
  }

  /** Connections scheduled. */
  get scheduled (): number {
    return this.#wheel.size
  }

  /** Whether the shared timer is armed (false when nothing is scheduled). */
  get timerArmed (): boolean {
    return this.#wheel.running
  }

  /** Start ticking a connection; its first tick comes about one interval from now. */
  add (connection: Connection): void {
    this.#wheel.add(connection)
  }

  /** Stop ticking a connection. */
  remove (connection: Connection): void {
    this.#wheel.remove(connection)
  }

  /** Stop everything. */
  stop (): void {
    this.#wheel.clear()
  }

  #sendBatch (due: ReadonlySet<Connection>, now: number): void {
    let frames: FramesPerProtocol
    try {
      const data = this.#produce({ connections: this.#connectionCount(), now })
      // Serialised and framed once per protocol; every socket of the batch gets the same bytes.
      frames = new FramesPerProtocol({ type: 'tick', seq: this.#seq + 1, t: now, data })
      // Framed here, for every protocol of the batch (one identity check per socket with one
      // protocol), so that data which cannot be serialised skips the batch before any socket has it.
      for (const connection of due) frames.frameFor(connection.protocol)
    } catch (err) {
      // A failing tick producer (or unserialisable data) must not stop the wheel for everyone.
      this.#log.error({ err }, 'tick producer failed; batch skipped')
      return
    }
    this.#seq++
    let sent = 0
    for (const connection of due) {
      if (frames.send(connection, 'tick')) sent++
    }
    this.#sent += sent
    // One report per batch and protocol, not per socket: the frame is the same for all of them.
    frames.report((frame, count) => { if (count > 0) this.#metrics?.frameOut('tick', frame.payloadBytes, count) })
  }
}
