/**
 * One client connection, whatever carries its bytes: its identity (id, ip, visitor), its log
 * lines, its send budget, and the ONE way anything is sent to it ({@link Connection.deliver}: a
 * frame built once, within the budget). How the bytes travel is its transport's business: a
 * transport (transports/websocket.ts) extends this class and implements the few members marked
 * "transport" below, so channels, ticks, limits, drain and recovery are written once.
 *
 * Kept lean, since a server holds tens of thousands: no closure or child logger per connection
 * (the log lines go through the node's logger with the same fields until something asks for
 * `log`), the services' bookkeeping in fields rather than Map entries.
 */
import { randomBytes } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import { CloseCode, CloseReason } from '../errors.js'
import type { MessageRate } from '../limits/message-rate.js'
import { judgeSend, LatestTick, type DrainSource, type SendKind } from '../limits/send-budget.js'
import { textFrame, type TextFrame } from '../wire/ws-frame.js'
import type { StreamPositions } from './stream-positions.js'
import type { SlotIndex } from './timer-wheel.js'
import type { Visitor } from './visitor.js'

/** The read-only view of a connection handed to application hooks. */
export interface ConnectionInfo {
  /** Random id of this connection, also in every log line about it (`connId`). */
  readonly id: string
  /** Client IP (trusted-proxy aware, normalised). */
  readonly ip: string
  /**
   * Who is on the socket: from the upgrade request (cookie session or bearer token), or later
   * from an `auth` frame; null while anonymous.
   */
  readonly visitor: Visitor | null
  /** Epoch milliseconds at which the connection opened. */
  readonly connectedAt: number
  /** Logger bound to `{ connId, ip }` and the upgrade's request id. */
  readonly log: FastifyBaseLogger
  /** Whether the client can receive (the socket is OPEN). */
  readonly isOpen: boolean
  /**
   * Send a text frame, within the connection's send budget (past it the connection is closed
   * with 4008, as for any message). @returns whether it was handed to the transport
   */
  send: (text: string) => boolean
  /** Start a clean close with a code and a short reason. */
  close: (code: number, reason?: string) => void
  /** Cut the connection at once, without a closing handshake (the client sees 1006, or its stream end). */
  terminate: () => void
}

/** What a client sent: a WebSocket message's data, or a text body. */
export type InboundData = Buffer | ArrayBuffer | Buffer[] | string

/** Receives a connection's events; one instance serves every connection of a node. */
export interface ConnectionEvents {
  message: (connection: Connection, data: InboundData, isBinary: boolean) => void
  close: (connection: Connection, code: number, reason: string) => void
  error: (connection: Connection, error: Error) => void
  /** The client answered a {@link Connection.ping}. */
  pong?: (connection: Connection) => void
  /** The client left a channel it was followed in (its resume state's channel set changed). */
  left?: (connection: Connection) => void
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
export function connectionSlotIndex (field: 'tickSlot' | 'heartbeatSlot' | 'authSlot'): SlotIndex<Connection> {
  return {
    get: (connection) => connection[field],
    set: (connection, slot) => { connection[field] = slot },
    delete: (connection) => { connection[field] = undefined }
  }
}

/** Bits of a connection's flags. */
const CLOSED = 1
const HOLDS_GATE_SLOT = 2
const RESUMABLE = 4
const SPOKE = 8

/** A message that arrived while the connection's messages were held (an `auth` being verified). */
export type HeldMessage = readonly [data: InboundData, isBinary: boolean]

/**
 * A connection's token and auth bookkeeping, apart from the connection: most connections (a
 * cookie session, an anonymous visitor) never have any, and four fields on every connection cost
 * more than one that stays null.
 */
class AuthFields {
  slot: number | undefined = undefined
  phase = 0
  expiresAt = 0
  held: HeldMessage[] | null = null
}

/** See the module comment. */
export abstract class Connection implements ConnectionInfo {
  readonly id: string
  readonly ip: string
  /** Changes only when an `auth` frame identifies an anonymous connection (never to another visitor). */
  visitor: Visitor | null
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
  /**
   * Where the client stands in each channel, for transports that resume for their client (an
   * event stream's ids, a WebSocket's resume token): the transport makes it (a WebSocket with its
   * first positioned frame) and applies each written frame's `position` to it. Null: no position yet.
   */
  positions: StreamPositions | null = null
  /** Token and auth bookkeeping, made the first time one of its fields is set (see the accessors below). */
  #auth: AuthFields | null = null
  readonly #shared: ConnectionShared
  /** Milliseconds from TIME_BASE_MS to the open. */
  readonly #openedAt: number
  /** CLOSED | HOLDS_GATE_SLOT | RESUMABLE */
  #flags = 0
  /** The child logger bound to this connection, made on first use of `log`. */
  #log: FastifyBaseLogger | null = null
  /** Made the first time a tick is coalesced. */
  #latestTick: LatestTick<TextFrame> | null = null

  constructor (shared: ConnectionShared, init: ConnectionInit) {
    this.id = newConnectionId()
    this.ip = init.ip
    this.visitor = init.visitor
    this.requestId = init.requestId
    this.#shared = shared
    this.#openedAt = Date.now() - TIME_BASE_MS
  }

  // ---- the transport: how bytes reach this client ----

  /** Whether the client can receive. (transport) */
  abstract get isOpen (): boolean
  /** Bytes accepted for this client and not yet written to the network. (transport) */
  abstract get bufferedBytes (): number
  /** What tells this connection that its buffered bytes were written, when there is such a thing. (transport) */
  protected abstract get drainSource (): DrainSource | null
  /** Hand a frame to the network. Called only while open and within the budget. (transport) */
  protected abstract write (frame: TextFrame): void
  /** Start a clean close with a code and a reason (at most 123 bytes). (transport) */
  abstract close (code: number, reason?: string): void
  /** Cut the connection without a closing handshake. (transport) */
  abstract terminate (): void
  /** Ask the client for a sign of life; the answer comes through {@link receivedPong}. (transport) */
  abstract ping (): void

  /**
   * The positions changed without a frame (the client left a channel): an event stream says so
   * with an event id of its own. (transport, optional)
   */
  protected positionsChanged (): void {}

  // ---- what the transport reports ----

  /** The client sent a message. */
  protected received (data: InboundData, isBinary: boolean): void {
    this.#shared.events.message(this, data, isBinary)
  }

  /** The client answered a ping. */
  protected receivedPong (): void {
    this.#shared.events.pong?.(this)
  }

  /** The transport failed. */
  protected failed (error: Error): void {
    this.#shared.events.error(this, error)
  }

  /** The connection ended; reported once, however often the transport says it. */
  protected ended (code: number, reason: string): void {
    if ((this.#flags & CLOSED) !== 0) return
    this.#flags |= CLOSED
    this.#latestTick?.dispose()
    this.#shared.events.close(this, code, reason)
  }

  // ---- the one send path ----

  /** Send a text frame as a `message` (see {@link ConnectionInfo.send}). */
  send (text: string): boolean {
    return this.deliver(textFrame(text), 'message')
  }

  /**
   * Send a frame built once (for one socket or for many) if the client can receive, within the
   * send budget: past it a `tick` is coalesced (only the newest waits, and goes when the
   * transport drains) and any other `kind` closes the connection with 4008 `slow consumer`.
   * @returns whether the frame was handed to the transport now
   */
  deliver (frame: TextFrame, kind: SendKind): boolean {
    if (!this.isOpen) return false
    const budget = this.#shared.budget
    if (budget !== null) {
      const buffered = this.bufferedBytes
      // Nothing waiting, the common case: no need to judge the frame.
      if (buffered > 0) {
        const verdict = judgeSend(buffered, frame.bytes.length, kind, budget.maxBufferedBytes)
        if (verdict !== 'send') return this.#overBudget(budget, verdict, frame)
      }
    }
    // A newer tick goes out directly: the older coalesced one is stale.
    if (kind === 'tick') this.#latestTick?.drop()
    this.write(frame)
    return true
  }

  #overBudget (budget: SendBudgetInit, verdict: 'coalesce' | 'close', frame: TextFrame): boolean {
    if (verdict === 'coalesce') {
      this.#latestTick ??= new LatestTick(this.drainSource, (held) => { this.deliver(held, 'tick') })
      this.#latestTick.hold(frame)
      budget.onCoalesced()
      return false
    }
    this.log.warn({ bufferedBytes: this.bufferedBytes, frameBytes: frame.bytes.length, maxBufferedBytes: budget.maxBufferedBytes }, 'slow consumer: closing')
    this.close(CloseCode.SLOW_CONSUMER, CloseReason.SLOW_CONSUMER)
    return false
  }

  /**
   * The client is no longer subscribed to `channel` (an `unsub`, or a subscription dropped after
   * its ack): its position is no longer followed. Nothing changes once the connection has ended,
   * so what it leaves behind is what it had.
   */
  unsubscribed (channel: string): void {
    if (this.closed || this.positions?.remove(channel) !== true) return
    this.positionsChanged()
    this.#shared.events.left?.(this)
  }

  // ---- identity and logging ----

  /** Epoch milliseconds at which the connection opened. */
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

  /** Whether this connection holds an upgrade-gate slot for its IP, to give back when it closes. */
  get holdsGateSlot (): boolean {
    return (this.#flags & HOLDS_GATE_SLOT) !== 0
  }

  set holdsGateSlot (holds: boolean) {
    this.#flags = holds ? this.#flags | HOLDS_GATE_SLOT : this.#flags & ~HOLDS_GATE_SLOT
  }

  // ---- token and auth bookkeeping: one object, made only for a connection that has some ----

  /** The auth deadline wheel's bucket of this connection (token refresh, expiry, auth timeout). */
  get authSlot (): number | undefined {
    return this.#auth?.slot
  }

  set authSlot (slot: number | undefined) {
    if (slot !== undefined || this.#auth !== null) this.#authFields().slot = slot
  }

  /** What the auth deadline is for (see auth/connection-auth.ts); 0: none. */
  get authPhase (): number {
    return this.#auth?.phase ?? 0
  }

  set authPhase (phase: number) {
    if (phase !== 0 || this.#auth !== null) this.#authFields().phase = phase
  }

  /** Epoch ms at which the connection's token expires; 0: no token (a session, or anonymous). */
  get tokenExpiresAt (): number {
    return this.#auth?.expiresAt ?? 0
  }

  set tokenExpiresAt (expiresAt: number) {
    if (expiresAt !== 0 || this.#auth !== null) this.#authFields().expiresAt = expiresAt
  }

  /**
   * Messages that arrived while an `auth` frame was being verified, in order; null when messages
   * are not held. They are handled once the auth settles, so a request that follows an `auth`
   * runs as the identity it established.
   */
  get held (): HeldMessage[] | null {
    return this.#auth?.held ?? null
  }

  set held (held: HeldMessage[] | null) {
    if (held !== null || this.#auth !== null) this.#authFields().held = held
  }

  #authFields (): AuthFields {
    this.#auth ??= new AuthFields()
    return this.#auth
  }

  /** Whether the connection has ended. */
  get closed (): boolean {
    return (this.#flags & CLOSED) !== 0
  }

  /** Whether the transport follows the client's positions to resume it (what it leaves is saved when it ends). */
  get resumable (): boolean {
    return (this.#flags & RESUMABLE) !== 0
  }

  /** Whether the client has sent a protocol message (a `resume` must be the first). */
  get spoke (): boolean {
    return (this.#flags & SPOKE) !== 0
  }

  /** The client sent a protocol message. */
  markSpoke (): void {
    this.#flags |= SPOKE
  }

  /** The transport resumes its client: its positions are followed and saved when it ends. */
  protected markResumable (): void {
    this.#flags |= RESUMABLE
  }
}
