/**
 * The framework-light core of one server node: it accepts upgraded sockets, wires each into the
 * hub and the ticker, handles their messages and closes, counts what happens, and drains on
 * shutdown. It receives plain values (ip, visitor, logger); Fastify stays in plugin.ts.
 */
import type { FastifyBaseLogger } from 'fastify'
import type { Connection, ConnectionInfo, ConnectionShared, HeldMessage, InboundData } from './connection.js'
import { ClientErrorCode, CloseCode, CloseReason } from '../errors.js'
import { Heartbeat } from './heartbeat.js'
import { Hub } from './hub.js'
import { MessageRate } from '../limits/message-rate.js'
import type { RealtimeMetrics } from '../metrics/metrics.js'
import type { BucketRate } from '../limits/token-bucket.js'
import type { SendKind } from '../limits/send-budget.js'
import type { ClientMessage, RequestId } from '../protocols/ours/client-messages.js'
import type { ErrorMessage, ServerMessage, WelcomeMessage } from '../protocols/ours/server-messages.js'
import { FramesPerProtocol } from '../protocols/frames-per-protocol.js'
import { Readiness } from './readiness.js'
import { Ticker, type TickContext } from './ticker.js'
import { textFrame, type FramePosition } from '../protocols/ws-frame.js'

/** What the node holds right now; every count returns to 0 when the last socket has gone. */
export interface NodeResources {
  /** Connections in the hub. */
  connections: number
  /** Connections scheduled on the ticker. */
  tickerScheduled: number
  /** Connections on the heartbeat. */
  heartbeatScheduled: number
  /** Connections waiting for a pong. */
  awaitingPong: number
  /** Whether the ticker's or the heartbeat's shared timer is armed. */
  timersArmed: boolean
}

/** Handles one validated protocol message of a given type from a connection. */
export type MessageHandler<M extends ClientMessage = ClientMessage> = (connection: Connection, message: M) => void

/** Handlers by client message type; a capability (channels, …) registers its own. */
export type MessageHandlers = { [K in ClientMessage['type']]?: MessageHandler<Extract<ClientMessage, { type: K }>> }

/**
 * Decides whether a protocol message may be handled at all on this connection (e.g. `requireAuth`
 * refuses everything but `auth` from an anonymous socket). @returns null to let it through, or the
 * error (code and message) to answer it with
 */
export type MessageGuard = (connection: Connection, message: ClientMessage) => Pick<ErrorMessage, 'code' | 'message'> | null

/** Most messages held for one connection while an `auth` is verified; more are dropped as over the rate. */
const MAX_HELD_MESSAGES = 64

/** Counters reported by `fastify.realtime.stats()`. */
export interface RealtimeStats {
  /** Connections open now. */
  connections: number
  /** Connections accepted since start. */
  connectionsTotal: number
  /** Tick frames sent since start. */
  ticksSent: number
  /** Client messages received since start. */
  messagesReceived: number
  /** Broadcast frames sent since start (one per receiving socket). */
  broadcastsSent: number
  /** Whether a drain (shutdown) has started. */
  draining: boolean
  /** Epoch milliseconds at which this node started. */
  startedAt: number
  /** Milliseconds since this node started. */
  uptimeMs: number
}

function inboundBytes (data: InboundData): number {
  if (typeof data === 'string') return Buffer.byteLength(data)
  if (Array.isArray(data)) return data.reduce((total, chunk) => total + chunk.length, 0)
  return data instanceof ArrayBuffer ? data.byteLength : data.length
}

/** Reconnect delay hint range sent in the 1001 reason, so clients do not all come back at once. */
const RETRY_MIN_MS = 500
const RETRY_SPREAD_MS = 4500

/** A jittered reconnect delay, 500–5000 ms: what a client should wait before it comes back. */
export function retryHintMs (random: () => number = Math.random): number {
  return RETRY_MIN_MS + Math.floor(random() * RETRY_SPREAD_MS)
}

/**
 * Make the reason of a shutdown close frame, with a jittered reconnect delay.
 * @returns e.g. `"restart; retry=1834"`
 */
export function shutdownReason (random: () => number = Math.random): string {
  return `restart; retry=${retryHintMs(random)}`
}

/** What a node is set up with: the plugin's options of these names, once resolved. */
export interface NodeSettings {
  readonly tickIntervalMs: number
  readonly tick: (context: TickContext) => unknown
  readonly onConnection: ((connection: ConnectionInfo) => void) | undefined
  readonly onMessage: ((connection: ConnectionInfo, text: string) => void) | undefined
  readonly closeGraceMs: number
  readonly metrics: RealtimeMetrics
  readonly heartbeatIntervalMs: number
  readonly heartbeatTimeoutMs: number
  readonly maxBufferedBytes: number
  readonly messageRatePerSec: number
  readonly messageBurst: number
}

/**
 * The node's message path as the services that answer client messages use it (auth, RPC,
 * resume frames): send one message to one connection, and hold a connection's next messages
 * while an answer is being worked out.
 */
export type MessageFlow = Pick<RealtimeNode, 'sendTo' | 'hold' | 'release'>

/** One node's connections, ticks and lifecycle. */
export class RealtimeNode {
  readonly hub = new Hub()
  readonly ticker: Ticker | null
  readonly heartbeat: Heartbeat | null
  /** Inbound message rate of every connection (each keeps its own bucket, made on its first message). */
  readonly #messageRateLimit: BucketRate
  /** Whether this node should get new clients; see {@link Readiness}. */
  readonly readiness = new Readiness()
  readonly #options: NodeSettings
  readonly #log: FastifyBaseLogger
  readonly #startedAt = Date.now()
  readonly #shared: ConnectionShared
  readonly #handlers: MessageHandlers = {}
  /** Told when a connection starts or stops following a channel (its resume state's channel set). */
  onChannelSetChange: ((connection: Connection) => void) | null = null
  readonly #closeListeners: Array<(connection: Connection) => void> = []
  readonly #openListeners: Array<(connection: Connection) => void> = []
  #guard: MessageGuard | null = null
  #connectionsTotal = 0
  #messagesReceived = 0
  #broadcastsSent = 0
  #draining = false
  /** Resolves the pending drain once the last connection has closed. */
  #onDrained: (() => void) | null = null

  /**
   * @param options - the node's settings (the resolved plugin options of these names)
   * @param log - the node's logger; connection lines add the upgrade's request id under `requestIdLabel`
   * @param requestIdLabel - Fastify's `requestIdLogLabel`
   */
  constructor (options: NodeSettings, log: FastifyBaseLogger, requestIdLabel = 'reqId') {
    this.#options = options
    this.#log = log
    this.#messageRateLimit = { ratePerSec: options.messageRatePerSec, burst: options.messageBurst }
    this.ticker = options.tickIntervalMs > 0
      ? new Ticker({ intervalMs: options.tickIntervalMs, produce: options.tick, connectionCount: () => this.hub.size, log, metrics: options.metrics })
      : null
    const heartbeat = options.heartbeatIntervalMs > 0
      ? new Heartbeat({
        intervalMs: options.heartbeatIntervalMs,
        timeoutMs: options.heartbeatTimeoutMs,
        onTimeout: (connection, waitedMs) => { connection.log.warn({ waitedMs }, `${CloseReason.HEARTBEAT_TIMEOUT}: terminating`) },
        onRtt: (ms) => options.metrics.heartbeatRtt(ms)
      })
      : null
    this.heartbeat = heartbeat
    // Not ready from the first moment of a drain, so a balancer stops sending new clients at once.
    this.readiness.add('draining', () => this.#draining ? { ok: false, detail: 'draining' } : { ok: true })
    // One events object, logger and budget serve every connection: nothing per socket.
    this.#shared = {
      events: {
        message: (connection, data, isBinary) => this.#onMessage(connection, data, isBinary),
        close: (connection, code, reason) => this.#onClose(connection, code, reason),
        error: (connection, error) => connection.log.warn({ err: error }, 'client error'),
        ...(heartbeat === null ? {} : { pong: (connection: Connection) => heartbeat.pong(connection) }),
        left: (connection) => { this.onChannelSetChange?.(connection) }
      },
      log,
      requestIdLabel,
      budget: { maxBufferedBytes: options.maxBufferedBytes, onCoalesced: () => options.metrics.tickCoalesced() }
    }
  }

  /**
   * Install the handler of one client message type (e.g. channels installs sub/unsub/pub), as
   * the cluster's router installs one per control kind.
   */
  on<K extends ClientMessage['type']> (type: K, handler: MessageHandler<Extract<ClientMessage, { type: K }>>): void {
    (this.#handlers as Record<string, unknown>)[type] = handler
  }

  /** Run `listener` once a connection is welcomed (before the application's onConnection hook). */
  onConnectionOpen (listener: (connection: Connection) => void): void {
    this.#openListeners.push(listener)
  }

  /** Install the guard every protocol message passes before its handler (one per node). */
  guard (guard: MessageGuard): void {
    this.#guard = guard
  }

  /**
   * Hold a connection's next messages (counted against its rate as they arrive, handled later):
   * while an `auth` is verified, so what follows it runs as the identity it establishes.
   */
  hold (connection: Connection): void {
    connection.held ??= []
  }

  /** Handle the held messages of a connection, in order, and stop holding (unless one of them holds again). */
  release (connection: Connection): void {
    const held = connection.held
    connection.held = null
    if (held === null) return
    for (let i = 0; i < held.length; i++) {
      if (connection.closed) return
      // Read afresh: handling the previous message may have held again (TypeScript cannot see that).
      const heldAgain = connection.held as HeldMessage[] | null
      if (heldAgain !== null) {
        // A held `auth` holds again: the rest wait behind it, still in order.
        heldAgain.push(...held.slice(i))
        return
      }
      const [data, isBinary] = held[i] ?? ['', false]
      this.#handleMessage(connection, data, isBinary, inboundBytes(data))
    }
  }

  /** Run `listener` after a connection closed and left the hub (e.g. channels drop its subscriptions). */
  onConnectionClose (listener: (connection: Connection) => void): void {
    this.#closeListeners.push(listener)
  }

  /** Whether a drain has started (new upgrades should be refused). */
  get draining (): boolean {
    return this.#draining
  }

  /**
   * What the connections of this node share (their event handlers, logger and send budget): a
   * transport makes each connection with it.
   */
  get connectionShared (): ConnectionShared {
    return this.#shared
  }

  /**
   * Take a connection into service: hub, ticker, heartbeat, log, welcome, user hook. Its transport
   * wired its events when it was made (synchronously after the upgrade), so nothing is missed.
   * @param welcome - what the transport adds to the welcome (a resume token, a stream key)
   */
  accept (connection: Connection, welcome: Pick<WelcomeMessage, 'resume' | 'stream'> = {}): void {
    this.hub.add(connection)
    this.ticker?.add(connection)
    this.heartbeat?.add(connection)
    this.#connectionsTotal++
    this.#options.metrics.connectionOpened()
    connection.logInfo({ visitor: connection.visitor?.id ?? null }, 'client connected')
    this.sendTo(connection, {
      type: 'welcome',
      connId: connection.id,
      visitor: connection.visitor?.id ?? null,
      tickIntervalMs: this.#options.tickIntervalMs,
      ...welcome
    })
    for (const listener of this.#openListeners) {
      try {
        listener(connection)
      } catch (err) {
        connection.log.error({ err }, 'open listener threw')
      }
    }
    if (this.#options.onConnection) {
      try {
        this.#options.onConnection(connection)
      } catch (err) {
        connection.log.error({ err }, 'onConnection hook threw')
      }
    }
  }

  /**
   * Send one message to one connection (a welcome, an answer, an error), counted.
   * @param position - the stream position the message moves its client to (a `pub` carries its own)
   * @param kind - how the send budget treats it (a recovery's publications are `replay`)
   * @returns whether it was handed to the transport (or queued behind a replay); false too when the connection's protocol has no such frame
   */
  sendTo (connection: Connection, message: ServerMessage, position?: FramePosition, kind: SendKind = 'message'): boolean {
    const text = connection.protocol.encode(message)
    // Its protocol has no such frame: nothing to send, and nothing failed.
    if (text === null) return false
    const frame = textFrame(text, message.type === 'pub' ? message : position)
    // A subscribe's answer that starts following a channel changes the connection's channel set.
    const joins = position !== undefined && connection.resumable && connection.positions?.get(position.channel) === undefined
    const sent = connection.sendFrame(frame, kind)
    if (sent) this.#options.metrics.frameOut(message.type, frame.payloadBytes, 1)
    if (joins) this.onChannelSetChange?.(connection)
    return sent
  }

  /**
   * Send `data` to every open connection on this node.
   * @returns how many sockets it was sent to
   */
  broadcast (data: unknown): number {
    const frames = new FramesPerProtocol({ type: 'broadcast', t: Date.now(), data })
    const sent = this.hub.broadcastFrame(frames, 'message')
    this.#broadcastsSent += sent
    frames.report((frame, count) => { if (count > 0) this.#options.metrics.frameOut('broadcast', frame.payloadBytes, count) })
    return sent
  }

  /** Stop the node's shared timers (ticks, heartbeat); after its drain, when the server closes. */
  close (): void {
    this.ticker?.stop()
    this.heartbeat?.stop()
  }

  /** A snapshot of this node's counters. */
  stats (): RealtimeStats {
    const now = Date.now()
    return {
      connections: this.hub.size,
      connectionsTotal: this.#connectionsTotal,
      ticksSent: this.ticker?.sent ?? 0,
      messagesReceived: this.#messagesReceived,
      broadcastsSent: this.#broadcastsSent,
      draining: this.#draining,
      startedAt: this.#startedAt,
      uptimeMs: now - this.#startedAt
    }
  }

  /** Counts of what the node holds (for leak checks): all 0 once every socket has gone. */
  resources (): NodeResources {
    return {
      connections: this.hub.size,
      tickerScheduled: this.ticker?.scheduled ?? 0,
      heartbeatScheduled: this.heartbeat?.size ?? 0,
      awaitingPong: this.heartbeat?.awaitingPong ?? 0,
      timersArmed: (this.ticker?.timerArmed ?? false) || (this.heartbeat?.timerArmed ?? false)
    }
  }

  /**
   * Graceful drain: close every connection with 1001 and a jittered retry hint, wait up to
   * `graceMs` for the clients to finish the closing handshake, then cut the rest.
   * Its timer is unref'd, so the drain never keeps the process alive by itself.
   */
  async drain (graceMs: number = this.#options.closeGraceMs): Promise<void> {
    this.#draining = true
    this.ticker?.stop()
    this.heartbeat?.stop()
    const open = [...this.hub]
    if (open.length > 0) this.#log.info({ connections: open.length, graceMs }, 'draining connections')
    for (const connection of open) connection.close(CloseCode.GOING_AWAY, shutdownReason())
    if (this.hub.size === 0) return
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        const left = this.hub.size
        if (left > 0) this.#log.warn({ connections: left }, 'close grace expired; terminating the rest')
        for (const connection of this.hub) connection.terminate()
      }, graceMs)
      timer.unref()
      this.#onDrained = () => {
        clearTimeout(timer)
        this.#onDrained = null
        resolve()
      }
    })
  }

  #onMessage (connection: Connection, data: InboundData, isBinary: boolean): void {
    this.#messagesReceived++
    const bytes = inboundBytes(data)
    connection.messageRate ??= new MessageRate(this.#messageRateLimit)
    const verdict = connection.messageRate.check()
    if (verdict !== 'accept') {
      this.#options.metrics.frameIn(ClientErrorCode.RATE_LIMITED, bytes)
      this.#rateLimited(connection, verdict === 'close', isBinary ? undefined : connection.protocol.requestIdOf(data.toString()))
      return
    }
    if (connection.held !== null) {
      if (connection.held.length < MAX_HELD_MESSAGES) {
        connection.held.push([data, isBinary])
        return
      }
      this.#options.metrics.frameIn(ClientErrorCode.RATE_LIMITED, bytes)
      this.#rateLimited(connection, false, isBinary ? undefined : connection.protocol.requestIdOf(data.toString()))
      return
    }
    this.#handleMessage(connection, data, isBinary, bytes)
  }

  /** One message that passed the rate limit: decode, check, dispatch. */
  #handleMessage (connection: Connection, data: InboundData, isBinary: boolean, bytes: number): void {
    if (isBinary) {
      this.#options.metrics.frameIn('binary', bytes)
      this.#sendError(connection, { type: 'error', code: ClientErrorCode.BINARY_UNSUPPORTED, message: 'Binary frames are not supported; send JSON or plain text.' })
      return
    }
    const decoded = connection.protocol.decode(data.toString())
    if (decoded.kind === 'error') {
      this.#options.metrics.frameIn('invalid', bytes)
      const { kind: _kind, ...error } = decoded
      this.#sendError(connection, { type: 'error', ...error })
      return
    }
    if (decoded.kind === 'message') {
      this.#options.metrics.frameIn(decoded.message.type, bytes)
      this.#dispatch(connection, decoded.message)
      return
    }
    this.#options.metrics.frameIn('text', bytes)
    connection.log.info({ bytes }, 'client message')
    if (this.#options.onMessage) {
      try {
        this.#options.onMessage(connection, decoded.text)
      } catch (err) {
        connection.log.error({ err }, 'onMessage hook threw')
        this.#sendError(connection, { type: 'error', code: ClientErrorCode.INTERNAL_ERROR, message: 'The server failed to handle this message.' })
      }
    }
  }

  #dispatch (connection: Connection, message: ClientMessage): void {
    const handler = this.#handlers[message.type] as MessageHandler | undefined
    const id = message.id
    if (handler === undefined) {
      const error: ErrorMessage = { type: 'error', code: ClientErrorCode.UNSUPPORTED, message: `"${message.type}" is not enabled on this server.` }
      this.#sendError(connection, id === undefined ? error : { ...error, id })
      return
    }
    const refusal = this.#guard?.(connection, message) ?? null
    if (refusal !== null) {
      const error: ErrorMessage = { type: 'error', ...refusal }
      this.#sendError(connection, id === undefined ? error : { ...error, id })
      return
    }
    try {
      handler(connection, message)
    } catch (err) {
      // Errors on one socket stay on that socket.
      connection.log.error({ err, type: message.type }, 'message handler threw')
      const error: ErrorMessage = { type: 'error', code: ClientErrorCode.INTERNAL_ERROR, message: 'The server failed to handle this message.' }
      this.#sendError(connection, id === undefined ? error : { ...error, id })
    }
    connection.markSpoke()
  }

  /**
   * A message over the rate is dropped and answered by `rate_limited` (with its request id, so a
   * client waiting on it is not left hanging); continued abuse closes the socket with 1008 after
   * that answer.
   */
  #rateLimited (connection: Connection, close: boolean, id: RequestId | undefined): void {
    if (!connection.isOpen) return
    const error: ErrorMessage = {
      type: 'error',
      code: ClientErrorCode.RATE_LIMITED,
      message: `Too many messages: at most ${this.#options.messageRatePerSec}/s (burst ${this.#options.messageBurst}); this one was dropped.`
    }
    this.#sendError(connection, id === undefined ? error : { ...error, id })
    if (close) {
      connection.log.warn({ ratePerSec: this.#options.messageRatePerSec }, 'message rate abuse: closing')
      connection.close(CloseCode.POLICY_VIOLATION, CloseReason.RATE_LIMITED)
    }
  }

  #onClose (connection: Connection, code: number, reason: string): void {
    this.ticker?.remove(connection)
    this.heartbeat?.remove(connection)
    this.hub.remove(connection)
    for (const listener of this.#closeListeners) {
      try {
        listener(connection)
      } catch (err) {
        connection.log.error({ err }, 'close listener threw')
      }
    }
    this.#options.metrics.connectionClosed(code)
    connection.logInfo({ code, reason, durationMs: Date.now() - connection.connectedAt }, 'client disconnected')
    if (this.hub.size === 0) this.#onDrained?.()
  }

  #sendError (connection: Connection, message: ErrorMessage): void {
    this.sendTo(connection, message)
  }
}
