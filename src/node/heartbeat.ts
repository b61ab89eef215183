/**
 * Heartbeats: ping every connection once per interval and terminate one whose pong has not come
 * back within the timeout, so a dead peer (TCP still open, nobody answering) is gone within one
 * interval plus one timeout.
 *
 * Two {@link TimerWheel}s, not a timer per socket: one walks every connection once per interval
 * and pings it; a ping puts the connection on the second wheel, whose period is the timeout, and
 * a pong takes it off again. Whatever is still on it when its slot comes round is terminated.
 */
import { connectionSlotIndex, type Connection } from './connection.js'
import { TimerWheel, type WheelClock } from './timer-wheel.js'

/**
 * The ping wheel's slot lives on the connection (every connection is on it for its whole life, so
 * a Map entry each would add up). The deadline wheel holds a connection only from a ping to its
 * pong, and keeps its default Map.
 */
const PING_SLOT = connectionSlotIndex('heartbeatSlot')

/** Options of a {@link Heartbeat}. */
export interface HeartbeatOptions {
  intervalMs: number
  timeoutMs: number
  /** A connection missed its pong; called just before it is terminated. */
  onTimeout: (connection: Connection, waitedMs: number) => void
  /** Round trip of a ping that was answered. */
  onRtt: (ms: number) => void
  clock?: WheelClock
}

/** Pings connections and cuts the ones that stop answering. */
export class Heartbeat {
  readonly #pingWheel: TimerWheel<Connection>
  readonly #deadlineWheel: TimerWheel<Connection>
  /** Connections waiting for a pong, with the time their ping left. */
  readonly #pingSentAt = new Map<Connection, number>()
  readonly #options: HeartbeatOptions
  readonly #now: () => number

  constructor (options: HeartbeatOptions) {
    this.#options = options
    this.#now = options.clock?.now ?? Date.now
    const clock = options.clock === undefined ? {} : { clock: options.clock }
    this.#pingWheel = new TimerWheel({ periodMs: options.intervalMs, slotIndex: PING_SLOT, onFire: (due) => this.#ping(due), ...clock })
    this.#deadlineWheel = new TimerWheel({ periodMs: options.timeoutMs, onFire: (due) => this.#expire(due), ...clock })
  }

  /** Connections on the heartbeat. */
  get size (): number {
    return this.#pingWheel.size
  }

  /** Connections waiting for a pong. */
  get awaitingPong (): number {
    return this.#pingSentAt.size
  }

  /** Whether either wheel holds a timer. */
  get timerArmed (): boolean {
    return this.#pingWheel.running || this.#deadlineWheel.running
  }

  /** Start pinging a connection; its first ping goes out about one interval from now. */
  add (connection: Connection): void {
    this.#pingWheel.add(connection)
  }

  /** Stop watching a connection (it closed). */
  remove (connection: Connection): void {
    this.#pingWheel.remove(connection)
    this.#deadlineWheel.remove(connection)
    this.#pingSentAt.delete(connection)
  }

  /** A pong arrived from `connection`. */
  pong (connection: Connection): void {
    const sentAt = this.#pingSentAt.get(connection)
    if (sentAt === undefined) return
    this.#pingSentAt.delete(connection)
    this.#deadlineWheel.remove(connection)
    this.#options.onRtt(this.#now() - sentAt)
  }

  /** Stop everything (drain, close). */
  stop (): void {
    this.#pingWheel.clear()
    this.#deadlineWheel.clear()
    this.#pingSentAt.clear()
  }

  #ping (due: ReadonlySet<Connection>): void {
    const now = this.#now()
    for (const connection of due) {
      // Still waiting for the last pong (timeout longer than the interval): keep its deadline.
      if (!connection.isOpen || this.#pingSentAt.has(connection)) continue
      this.#pingSentAt.set(connection, now)
      this.#deadlineWheel.add(connection)
      connection.ping()
    }
  }

  #expire (due: ReadonlySet<Connection>): void {
    const now = this.#now()
    // Copy first: terminating emits close synchronously in some paths, which removes from `due`.
    for (const connection of [...due]) {
      const sentAt = this.#pingSentAt.get(connection) ?? now
      this.remove(connection)
      this.#options.onTimeout(connection, now - sentAt)
      connection.terminate()
    }
  }
}
