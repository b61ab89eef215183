/**
 * One client connection: its identity (id, ip, visitor), a child logger, sending while OPEN, and
 * closing with a code. It attaches its own socket listeners and removes them when the socket
 * closes, so nothing it registered outlives it.
 */
import { randomBytes } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import type { WebSocket, RawData } from 'ws'
import { clipCloseReason, CloseCode, CloseReason } from '../errors.js'
import { isDrainSource, judgeSend, LatestTick, type DrainSource, type SendKind } from '../limits/send-budget.js'
import type { MessageRate } from '../limits/message-rate.js'
import type { SlotIndex } from './timer-wheel.js'
import { RealtimeSocket, type SocketEventSink } from '../transports/realtime-socket.js'
import type { Visitor } from './visitor.js'
import { frameSinkOf, isFrameSink, writeFrame, type FrameSink, type TextFrame } from '../wire/ws-frame.js'

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

/** A node's send budget, the same for all its connections (see send-budget.ts). */
export interface SendBudgetInit {
  maxBufferedBytes: number
  /** Called each time a tick is coalesced (metrics). */
  onCoalesced: () => void
}

/**
 * What every connection of one node shares, so that each of tens of thousands of connections
 * holds one reference instead of its own copies (and its own closures).
 */
export interface ConnectionShared {
  events: ConnectionEvents
  /** The node's logger; a connection's lines add `{ [requestIdLabel]: requestId, connId, ip }`. */
  log: FastifyBaseLogger
  /** Log key of the upgrade's request id, as Fastify's `requestIdLogLabel` names it. @default 'reqId' */
  requestIdLabel: string
  /** Without one, sends are never limited. */
  budget: SendBudgetInit | null
}

/** What one connection is made from. */
export interface ConnectionInit {
  ip: string
  visitor: Visitor | null
  /** The upgrade request's id, on every log line about this connection. */
  requestId: string
  /**
   * The upgrade request's TCP socket (`request.raw.socket`): frames are written to it directly
   * when it is ws's own stream, and its `drain` releases a coalesced tick. Optional.
   */
  stream?: unknown
}

/** Time base of {@link Connection.connectedAt}: offsets from it stay small integers (no boxed number per connection). */
const TIME_BASE_MS = Date.now()

/** Make a short random connection id (72 bits, URL-safe). */
export function newConnectionId (): string {
  return randomBytes(9).toString('base64url')
}

/**
 * A timer wheel's {@link SlotIndex} kept in one of a connection's slot fields (the ticker's or
 * the heartbeat's), so a wheel needs no Map entry per connection.
 */
export function connectionSlotIndex (field: 'tickSlot' | 'heartbeatSlot'): SlotIndex<Connection> {
  return {
    get: (connection) => connection[field],
    set: (connection, slot) => { connection[field] = slot },
    delete: (connection) => { connection[field] = undefined }
  }
}

/** The connection of each plain ws socket, for the socket listeners shared by all connections. */
const owners = new WeakMap<WebSocket, Connection>()

/** The TCP stream under a WebSocket: frames may be written to it, and its `drain` is followed. */
type NetStream = FrameSink & DrainSource

/** Bits of a connection's flags. */
const CLOSED = 1
const RAW_WRITES = 2
const HOLDS_GATE_SLOT = 4

/**
 * A client connection. See {@link ConnectionInfo} for the public surface.
 *
 * Kept lean, since a server holds tens of thousands. A {@link RealtimeSocket} (the plugin's own
 * ws class) hands its events to the connection directly; a plain ws socket (an app that
 * registered @fastify/websocket itself) gets listeners shared by every connection, so there is
 * no closure per socket either way. The child logger is made only when something asks for
 * `log`; the connect and disconnect lines are written through the node's logger with the same
 * fields.
 */
export class Connection implements ConnectionInfo, SocketEventSink {
  readonly id: string
  readonly ip: string
  readonly visitor: Visitor | null
  readonly socket: WebSocket
  /** The upgrade request's id (logged as `requestIdLabel`). */
  readonly requestId: string
  /**
   * Bookkeeping of this node's services, kept on the connection because a field costs a few
   * bytes where a `Map` or `WeakMap` entry per connection costs tens: the ticker's and the
   * heartbeat's timer-wheel slots, and the inbound message rate (made on the first message).
   */
  tickSlot: number | undefined = undefined
  heartbeatSlot: number | undefined = undefined
  messageRate: MessageRate | null = null
  /** The upgrade's TCP stream: its `drain` is followed, and frames are written to it when RAW_WRITES is set. */
  readonly #stream: NetStream | null
  readonly #shared: ConnectionShared
  /** Milliseconds from TIME_BASE_MS to the open. */
  readonly #openedAt: number
  /** CLOSED | RAW_WRITES | HOLDS_GATE_SLOT */
  #flags: number
  /** The child logger bound to this connection, made on first use of `log`. */
  #log: FastifyBaseLogger | null = null
  /** Made the first time a tick is coalesced. */
  #latestTick: LatestTick | null = null

  constructor (id: string, socket: WebSocket, shared: ConnectionShared, init: ConnectionInit) {
    this.id = id
    this.socket = socket
    this.ip = init.ip
    this.visitor = init.visitor
    this.requestId = init.requestId
    this.#shared = shared
    this.#openedAt = Date.now() - TIME_BASE_MS
    this.#stream = isFrameSink(init.stream) && isDrainSource(init.stream) ? init.stream : null
    this.#flags = this.#stream !== null && frameSinkOf(socket, this.#stream) !== null ? RAW_WRITES : 0
    // Events are wired synchronously, before any await, or a message sent right after the open is lost.
    if (socket instanceof RealtimeSocket) {
      socket.eventSink = this
      return
    }
    owners.set(socket, this)
    socket.on('message', Connection.#onMessage)
    socket.on('error', Connection.#onError)
    socket.on('close', Connection.#onClose)
    if (shared.events.pong !== undefined) socket.on('pong', Connection.#onPong)
  }

  // In the shared listeners `this` is the socket: EventEmitter calls a listener on its emitter.
  static readonly #onMessage = function (this: WebSocket, data: RawData, isBinary: boolean): void {
    owners.get(this)?.socketMessage(data, isBinary)
  }

  static readonly #onError = function (this: WebSocket, error: Error): void {
    owners.get(this)?.socketError(error)
  }

  static readonly #onPong = function (this: WebSocket): void {
    owners.get(this)?.socketPong()
  }

  static readonly #onClose = function (this: WebSocket, code: number, reason: Buffer): void {
    this.off('message', Connection.#onMessage)
    this.off('close', Connection.#onClose)
    this.off('pong', Connection.#onPong)
    // The error listener stays (it is shared, so it costs nothing): a socket must never be left
    // without one, since @fastify/websocket's own is removed at accept (see upgrade-release.ts).
    const connection = owners.get(this)
    if (connection === undefined) return
    owners.delete(this)
    connection.socketClose(code, reason)
  }

  /** A message arrived (socket event; see {@link SocketEventSink}). */
  socketMessage (data: RawData, isBinary: boolean): void {
    this.#shared.events.message(this, data, isBinary)
  }

  /** A pong arrived (socket event). */
  socketPong (): void {
    this.#shared.events.pong?.(this)
  }

  /** The socket reported an error (socket event). */
  socketError (error: Error): void {
    this.#shared.events.error(this, error)
  }

  /** The socket closed (socket event); runs once. */
  socketClose (code: number, reason: Buffer): void {
    if ((this.#flags & CLOSED) !== 0) return
    this.#flags |= CLOSED
    this.#latestTick?.dispose()
    this.#shared.events.close(this, code, reason.toString())
  }

  /** Epoch milliseconds at which the socket opened. */
  get connectedAt (): number {
    return TIME_BASE_MS + this.#openedAt
  }

  /** Logger bound to the upgrade's request id and `{ connId, ip }`, made on first use. */
  get log (): FastifyBaseLogger {
    this.#log ??= this.#shared.log.child(this.#bindings())
    return this.#log
  }

  /**
   * Log at info level with this connection's bindings, without making a child logger for a line
   * that every connection writes (connect, disconnect).
   */
  logInfo (fields: Record<string, unknown>, msg: string): void {
    if (this.#log !== null) this.#log.info(fields, msg)
    else this.#shared.log.info({ ...this.#bindings(), ...fields }, msg)
  }

  #bindings (): Record<string, string> {
    return { [this.#shared.requestIdLabel]: this.requestId, connId: this.id, ip: this.ip }
  }

  /** Whether the socket is OPEN. */
  get isOpen (): boolean {
    return this.socket.readyState === OPEN
  }

  /** Whether this connection holds an upgrade-gate slot for its IP, to give back when it closes. */
  get holdsGateSlot (): boolean {
    return (this.#flags & HOLDS_GATE_SLOT) !== 0
  }

  set holdsGateSlot (holds: boolean) {
    this.#flags = holds ? this.#flags | HOLDS_GATE_SLOT : this.#flags & ~HOLDS_GATE_SLOT
  }

  /** Whether the close event has been seen. */
  get closed (): boolean {
    return (this.#flags & CLOSED) !== 0
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
    if (buffered === 0 || this.#shared.budget === null) return this.#write(text, kind)
    return this.sendMeasured(text, Buffer.byteLength(text), kind)
  }

  /**
   * {@link send} for a frame whose byte length the caller already knows (fan-out that encodes
   * a frame once for many sockets).
   */
  sendMeasured (text: string, bytes: number, kind: SendKind): boolean {
    if (this.socket.readyState !== OPEN) return false
    const budget = this.#shared.budget
    if (budget === null) return this.#write(text, kind)
    const verdict = judgeSend(this.socket.bufferedAmount, bytes, kind, budget.maxBufferedBytes)
    if (verdict === 'send') return this.#write(text, kind)
    return this.#overBudget(budget, verdict, text, bytes)
  }

  /**
   * Send a frame built once for many sockets ({@link textFrame}) if the socket is OPEN, within the
   * send budget: its bytes go straight to the TCP stream, coalesced with this turn's other writes
   * to the same socket (one `writev`). ws's `bufferedAmount` counts them like its own writes.
   * @param frame - the prepared frame
   * @param kind - `tick`: coalesced past the budget; `message`: closes the socket (4008) past it
   * @returns whether the frame was handed to the socket now
   */
  sendFrame (frame: TextFrame, kind: SendKind): boolean {
    if (this.socket.readyState !== OPEN) return false
    const budget = this.#shared.budget
    const buffered = this.socket.bufferedAmount
    if (budget !== null && buffered > 0) {
      const verdict = judgeSend(buffered, frame.bytes.length, kind, budget.maxBufferedBytes)
      if (verdict !== 'send') return this.#overBudget(budget, verdict, frame.text, frame.bytes.length)
    }
    if (kind === 'tick') this.#latestTick?.drop()
    if ((this.#flags & RAW_WRITES) !== 0 && this.#stream !== null) writeFrame(this.#stream, frame.bytes)
    else this.socket.send(frame.text)
    return true
  }

  /** Whether frames go straight to the TCP stream (false: through ws.send). */
  get rawWrites (): boolean {
    return (this.#flags & RAW_WRITES) !== 0
  }

  #overBudget (budget: SendBudgetInit, verdict: 'coalesce' | 'close', text: string, bytes: number): boolean {
    if (verdict === 'coalesce') {
      this.#latestTick ??= new LatestTick(this.#stream, (frame) => { this.send(frame, 'tick') })
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
