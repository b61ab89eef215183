/**
 * One client connection: its identity (id, ip, visitor), a child logger, sending while OPEN, and
 * closing with a code. It attaches its own socket listeners and removes them when the socket
 * closes, so nothing it registered outlives it.
 */
import { randomBytes } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import type { WebSocket, RawData } from 'ws'
import { clipCloseReason, CloseCode, CloseReason } from './errors.js'
import { judgeSend, LatestTick, type DrainSource, type SendKind } from './send-budget.js'
import type { Visitor } from './visitor.js'

/** ws's readyState value for an open socket (the WebSocket.OPEN constant, without importing ws at runtime). */
const OPEN = 1
const CONNECTING = 0

/** The read-only view of a connection handed to application hooks. */
export interface ConnectionInfo {
  /** Random id of this connection, also in every log line about it (`connId`). */
  readonly id: string
  /** Client IP (trusted-proxy aware, normalised). */
  readonly ip: string
  /** The visitor identified from the upgrade request, or null. */
  readonly visitor: Visitor | null
  /** Epoch milliseconds at which the socket opened. */
  readonly connectedAt: number
  /** Logger bound to `{ connId, ip }` and the upgrade's request id. */
  readonly log: FastifyBaseLogger
  /** Whether the socket is OPEN. */
  readonly isOpen: boolean
  /** Send a text frame if the socket is OPEN. @returns whether it was sent */
  sendText: (text: string) => boolean
  /**
   * Send a text frame through the connection's send budget: a `tick` past the budget is
   * coalesced, any other `kind` past it closes the socket with 4008. @returns whether it was sent now
   */
  send: (text: string, kind?: SendKind) => boolean
  /** Start a clean close with a code and a short reason. */
  close: (code: number, reason?: string) => void
}

/** Receives a connection's socket events; one instance serves every connection of a plugin. */
export interface ConnectionEvents {
  message: (connection: Connection, data: RawData, isBinary: boolean) => void
  close: (connection: Connection, code: number, reason: string) => void
  error: (connection: Connection, error: Error) => void
  /** A pong arrived (heartbeat). */
  pong?: (connection: Connection) => void
}

/** A connection's send budget (see send-budget.ts). */
export interface SendBudgetInit {
  maxBufferedBytes: number
  /** The TCP socket under the WebSocket, whose `drain` releases a coalesced tick; null when there is none. */
  transport: DrainSource | null
  /** Called each time a tick is coalesced (metrics). */
  onCoalesced: () => void
}

/** What a connection is made from. */
export interface ConnectionInit {
  ip: string
  visitor: Visitor | null
  log: FastifyBaseLogger
  events: ConnectionEvents
  /** Without one, sends are never limited. */
  budget?: SendBudgetInit
}

/** Make a short random connection id (72 bits, URL-safe). */
export function newConnectionId (): string {
  return randomBytes(9).toString('base64url')
}

/** A client connection. See {@link ConnectionInfo} for the public surface. */
export class Connection implements ConnectionInfo {
  readonly id: string
  readonly ip: string
  readonly visitor: Visitor | null
  readonly connectedAt: number
  readonly log: FastifyBaseLogger
  readonly socket: WebSocket
  #closed = false
  readonly #budget: SendBudgetInit | null
  /** Made the first time a tick is coalesced. */
  #latestTick: LatestTick | null = null

  constructor (id: string, socket: WebSocket, init: ConnectionInit) {
    this.id = id
    this.socket = socket
    this.ip = init.ip
    this.visitor = init.visitor
    this.log = init.log
    this.connectedAt = Date.now()
    this.#budget = init.budget ?? null
    const { events } = init
    // Listeners go on synchronously, before any await, or a message sent right after the open is lost.
    const onMessage = (data: RawData, isBinary: boolean): void => events.message(this, data, isBinary)
    const onError = (error: Error): void => events.error(this, error)
    const { pong } = events
    const onPong = pong === undefined ? null : (): void => pong(this)
    socket.on('message', onMessage)
    socket.on('error', onError)
    if (onPong !== null) socket.on('pong', onPong)
    socket.once('close', (code: number, reason: Buffer) => {
      this.#closed = true
      socket.off('message', onMessage)
      socket.off('error', onError)
      if (onPong !== null) socket.off('pong', onPong)
      this.#latestTick?.dispose()
      events.close(this, code, reason.toString())
    })
  }

  /** Whether the socket is OPEN. */
  get isOpen (): boolean {
    return this.socket.readyState === OPEN
  }

  /** Whether the close event has been seen. */
  get closed (): boolean {
    return this.#closed
  }

  /** Send a text frame if the socket is OPEN. @returns whether it was sent */
  sendText (text: string): boolean {
    return this.send(text, 'message')
  }

  /**
   * Send a text frame if the socket is OPEN, within the send budget.
   * @param kind - `tick`: coalesced past the budget; `message`: closes the socket (4008) past it
   * @returns whether the frame was handed to the socket now
   */
  send (text: string, kind: SendKind = 'message'): boolean {
    if (this.socket.readyState !== OPEN) return false
    const buffered = this.socket.bufferedAmount
    // Nothing waiting (the common case): no need to measure the frame.
    if (buffered === 0 || this.#budget === null) return this.#write(text, kind)
    return this.sendMeasured(text, Buffer.byteLength(text), kind)
  }

  /**
   * {@link send} for a frame whose byte length the caller already knows (fan-out that encodes
   * a frame once for many sockets).
   */
  sendMeasured (text: string, bytes: number, kind: SendKind): boolean {
    if (this.socket.readyState !== OPEN) return false
    const budget = this.#budget
    if (budget === null) return this.#write(text, kind)
    const verdict = judgeSend(this.socket.bufferedAmount, bytes, kind, budget.maxBufferedBytes)
    if (verdict === 'send') return this.#write(text, kind)
    if (verdict === 'coalesce') {
      this.#latestTick ??= new LatestTick(budget.transport, (frame) => { this.send(frame, 'tick') })
      this.#latestTick.hold(text)
      budget.onCoalesced()
      return false
    }
    this.log.warn({ bufferedBytes: this.socket.bufferedAmount, frameBytes: bytes, maxBufferedBytes: budget.maxBufferedBytes }, 'slow consumer: closing')
    this.close(CloseCode.SLOW_CONSUMER, CloseReason.SLOW_CONSUMER)
    return false
  }

  #write (text: string, kind: SendKind): boolean {
    // A newer tick goes out directly: the older coalesced one is stale.
    if (kind === 'tick') this.#latestTick?.drop()
    this.socket.send(text)
    return true
  }

  /** Start a clean close with a code and a reason clipped to fit a close frame. */
  close (code: number, reason = ''): void {
    const state = this.socket.readyState
    if (state === OPEN || state === CONNECTING) this.socket.close(code, clipCloseReason(reason))
  }

  /** Cut the connection without a closing handshake. */
  terminate (): void {
    this.socket.terminate()
  }
}
