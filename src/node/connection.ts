/**
 * One client connection, whatever carries its bytes: its identity (id, ip, visitor), its log
 * lines, its send budget, and the ONE way anything is sent to it ({@link Connection.sendFrame}: a
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
import type { StreamPosition } from '../adapters/adapter.js'
import { CloseCode, CloseReason } from '../errors.js'
import type { MessageRate } from '../limits/message-rate.js'
import { SendBacklog } from '../limits/send-backlog.js'
import { judgeQueued, judgeSend, LatestTick, type DrainSource, type SendKind, type SendVerdict } from '../limits/send-budget.js'
import { ourProtocol } from '../protocols/ours/protocol.js'
import type { WireProtocol } from '../protocols/protocol.js'
import { textFrame, type FramePosition, type TextFrame } from '../protocols/ws-frame.js'
import type { SlotIndex } from './timer-wheel.js'
import type { Visitor } from './visitor.js'

/**
 * Where a connection's client stands in each channel: recovery/stream-positions.ts's
 * `StreamPositions`, named here by what the node and the transports use of it, so that node/
 * imports nothing from recovery/ (which builds on the connection).
 */
export interface ClientPositions {
  /** Channels followed. */
  readonly size: number
  /** A channel's position, if followed. */
  get: (channel: string) => StreamPosition | undefined
  /** A frame that moves a channel was handed to the transport. */
  apply: (position: FramePosition) => void
  /** The client left a channel. @returns whether it was followed */
  remove: (channel: string) => boolean
  /** Every channel and its position. */
  entries: () => IterableIterator<[string, StreamPosition]>
}

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
   * with 4008, as for any message; behind a replay that is still being streamed it waits its turn).
   * @returns whether it was handed to the transport or queued for it
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

/**
 * Where a connection leaves what its client needs to come back (recovery/resume-store.ts's
 * `ResumeStore`, named here by what the transports use of it, so that node/ imports nothing from
 * recovery/).
 */
export interface Keeper {
  /** Keep the state a resume token brings back: the visitor, the channels and their positions (ignored for a connection that is not {@link Connection.resumable}). */
  save: (connection: Connection) => void
  /** Follow a write of the connection's own (an event stream's cursor): the node's drain waits for it. */
  track: (write: Promise<void>) => void
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
  /** The wire protocol its client speaks, chosen by the route that made it. @default ours */
  protocol?: WireProtocol
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

/**
 * What a connection holds once it fell behind, apart from the connection: the newest coalesced
 * tick and the backlog behind a replay. A healthy connection never has either, and one field that
 * stays null costs less than two.
 */
class SlowPath {
  latestTick: LatestTick<TextFrame> | null = null
  backlog: SendBacklog<TextFrame> | null = null
  /** Writes the backlog on when the transport has written what it held (bound once). */
  wake: (() => void) | null = null
}

/** See the module comment. */
export abstract class Connection implements ConnectionInfo {
  readonly id: string
  readonly ip: string
  /** Changes only when an `auth` frame identifies an anonymous connection (never to another visitor). */
  visitor: Visitor | null
  /** The upgrade request's id (logged as `requestIdLabel`). */
  readonly requestId: string
  /** The wire protocol its client speaks: every frame to it is encoded, and every frame from it decoded, by this. */
  readonly protocol: WireProtocol
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
  positions: ClientPositions | null = null
  /** Token and auth bookkeeping, made the first time one of its fields is set (see the accessors below). */
  #auth: AuthFields | null = null
  readonly #shared: ConnectionShared
  /** Milliseconds from TIME_BASE_MS to the open. */
  readonly #openedAt: number
  /** CLOSED | HOLDS_GATE_SLOT | RESUMABLE */
  #flags = 0
  /** The child logger bound to this connection, made on first use of `log`. */
  #log: FastifyBaseLogger | null = null
  /** Made the first time a tick is coalesced or a replay meets a full socket. */
  #slow: SlowPath | null = null

  constructor (shared: ConnectionShared, init: ConnectionInit) {
    this.id = init.protocol?.newConnectionId?.() ?? newConnectionId()
    this.ip = init.ip
    this.visitor = init.visitor
    this.requestId = init.requestId
    this.protocol = init.protocol ?? ourProtocol
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
  /**
   * Offer the bytes written in this turn to the network now rather than at the end of the turn,
   * so that {@link bufferedBytes} then counts what the network left waiting. (transport, optional)
   */
  protected offerNow (): void {}
  /**
   * Call `callback` once everything handed to the transport so far was written to the network,
   * or the transport failed. (transport)
   */
  protected abstract whenWritten (callback: () => void): void
  /** Start a clean close with one of our close codes, sent as `protocol.closeCode(code)`, and a reason (at most 123 bytes). (transport) */
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

  /**
   * Leave behind what this connection's client comes back with: called when the connection
   * closes and again when its node drains (positions are final then, in case the grace runs out
   * first). By default the state its resume token brings back; an event stream keeps its cursor
   * instead, since its browser comes back with a `Last-Event-ID`. (transport, optional)
   */
  leaveBehind (keeper: Keeper): void {
    keeper.save(this)
  }

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
    this.#slow?.latestTick?.dispose()
    this.#slow?.backlog?.clear()
    this.#shared.events.close(this, code, reason)
  }

  // ---- the one send path ----

  /** Send a text frame as a `message` (see {@link ConnectionInfo.send}). */
  send (text: string): boolean {
    return this.sendFrame(textFrame(text), 'message')
  }

  /**
   * Send a frame built once (for one socket or for many) if the client can receive, within the
   * send budget, judged on what the client failed to take (see send-budget.ts): past it a `tick`
   * is coalesced (only the newest waits, and goes when the transport drains), a `replay` frame
   * waits in the backlog and goes out as the transport drains, and any other `kind` closes the
   * connection with 4008 `slow consumer`. While a backlog waits, every frame waits behind it (in
   * order), and live frames past the budget there close the connection with 4008.
   * @returns whether the frame was handed to the transport or queued for it
   */
  sendFrame (frame: TextFrame, kind: SendKind): boolean {
    if (!this.isOpen) return false
    const budget = this.#shared.budget
    if (budget !== null) {
      const backlog = this.#slow?.backlog
      if (backlog !== undefined && backlog !== null) return this.#queue(budget, backlog, frame, kind)
      // Nothing waiting, the common case: no need to judge the frame.
      if (this.bufferedBytes > 0) {
        const verdict = this.#judge(frame, kind, budget.maxBufferedBytes)
        if (verdict !== 'send') return this.#overBudget(budget, verdict, frame)
      }
    }
    // A newer tick goes out directly: the older coalesced one is stale.
    if (kind === 'tick') this.#slow?.latestTick?.drop()
    this.write(frame)
    return true
  }

  /**
   * Judge a frame that may not fit: if it would go past the budget, the bytes corked in this turn
   * are offered to the network first, and the verdict is taken on what it left waiting.
   */
  #judge (frame: TextFrame, kind: SendKind, maxBufferedBytes: number): SendVerdict {
    const frameBytes = frame.bytes.length
    if (judgeSend(this.bufferedBytes, frameBytes, kind, maxBufferedBytes) === 'send') return 'send'
    this.offerNow()
    return judgeSend(this.bufferedBytes, frameBytes, kind, maxBufferedBytes)
  }

  #overBudget (budget: SendBudgetInit, verdict: 'coalesce' | 'close' | 'queue', frame: TextFrame): boolean {
    if (verdict === 'coalesce') {
      const slow = this.#slowPath()
      slow.latestTick ??= new LatestTick(this.drainSource, (held) => { this.sendFrame(held, 'tick') })
      slow.latestTick.hold(frame)
      budget.onCoalesced()
      return false
    }
    if (verdict === 'queue') {
      const backlog = new SendBacklog<TextFrame>()
      this.#slowPath().backlog = backlog
      backlog.push(frame, false)
      this.#armWake(backlog)
      return true
    }
    this.#slowConsumer(budget, frame, 0)
    return false
  }

  /** A frame for a connection whose backlog waits: behind it, within the budget for live frames. */
  #queue (budget: SendBudgetInit, backlog: SendBacklog<TextFrame>, frame: TextFrame, kind: SendKind): boolean {
    if (kind === 'tick') return this.#overBudget(budget, 'coalesce', frame)
    const live = kind !== 'replay'
    if (live && judgeQueued(backlog.liveBytes, frame.bytes.length, budget.maxBufferedBytes) === 'close') {
      this.#slowConsumer(budget, frame, backlog.liveBytes)
      return false
    }
    backlog.push(frame, live)
    return true
  }

  /** Write what the backlog holds while it fits the budget; then wait for the transport to drain. */
  #pump (): void {
    const slow = this.#slow
    const backlog = slow?.backlog
    if (slow === null || backlog === undefined || backlog === null) return
    backlog.waiting = false
    const budget = this.#shared.budget
    if (!this.isOpen || budget === null) return
    for (let frame = backlog.peek(); frame !== undefined; frame = backlog.peek()) {
      if (this.bufferedBytes > 0 && this.#judge(frame, 'replay', budget.maxBufferedBytes) !== 'send') {
        this.#armWake(backlog)
        return
      }
      backlog.shift()
      this.write(frame)
    }
    // Caught up: frames go straight to the transport again.
    slow.backlog = null
  }

  /** Have the transport call back once it wrote what it holds, to write the backlog on. */
  #armWake (backlog: SendBacklog<TextFrame>): void {
    if (backlog.waiting) return
    backlog.waiting = true
    const slow = this.#slowPath()
    slow.wake ??= () => { this.#pump() }
    this.whenWritten(slow.wake)
  }

  #slowConsumer (budget: SendBudgetInit, frame: TextFrame, queuedBytes: number): void {
    this.log.warn({ bufferedBytes: this.bufferedBytes, queuedBytes, frameBytes: frame.bytes.length, maxBufferedBytes: budget.maxBufferedBytes }, 'slow consumer: closing')
    this.close(CloseCode.SLOW_CONSUMER, CloseReason.SLOW_CONSUMER)
  }

  #slowPath (): SlowPath {
    this.#slow ??= new SlowPath()
    return this.#slow
  }

  /**
   * The client is no longer subscribed to `channel` (an `unsub`, or a subscription dropped after
   * its ack): its position is no longer followed. Nothing changes once the connection has ended,
   * so what it leaves behind is what it had.
   */
  unsubscribed (channel: string): void {
    if (this.closed) return
    // What still waits of that channel is no longer owed (and must not move its position again).
    this.#slow?.backlog?.dropChannel(channel)
    if (this.positions?.remove(channel) !== true) return
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
