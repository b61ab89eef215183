/**
 * The WebSocket transport: a {@link Connection} whose bytes travel on a `ws` socket. Frames built
 * once go straight to the socket's TCP stream (the upgrade request's own TCP socket, which ws took
 * over) when no extension was negotiated (raw-frames.ts), and through `ws.send` otherwise (an
 * injected test socket, a negotiated extension). Its `bufferedAmount` is ws's, which counts the raw writes too, so the
 * send budget sees every byte; the TCP stream's `drain` releases a coalesced tick.
 *
 * A {@link RealtimeSocket} (the plugin's own ws class) hands its events to the connection with no
 * listener; a plain ws socket (an app that registered @fastify/websocket itself) gets listeners
 * shared by every connection, so there is no closure per socket either way.
 *
 * A resumable connection (one whose `welcome` carries a resume token) follows its client's stream
 * positions, frame by frame, and leaves them behind when it ends: the positions of the frames this
 * server last wrote, whether or not they reached the client (what the kernel took of a stream is
 * not known through public APIs). A client that sends its own positions in its `resume` frame is
 * exact (docs/PROTOCOL.md). They are made with the first frame that moves a position, so an idle
 * socket pays for none.
 */
import type { WebSocket, RawData } from 'ws'
import { clipCloseReason } from '../errors.js'
import { isDrainSource, type DrainSource } from '../limits/send-budget.js'
import { Connection, type ConnectionInit, type ConnectionShared } from '../node/connection.js'
import { StreamPositions } from '../recovery/stream-positions.js'
import type { TextFrame } from '../protocols/ws-frame.js'
import { frameSinkOf, isFrameSink, releaseCork, whenWritten, writeFrame, type FrameSink } from './raw-frames.js'
import { RealtimeSocket, type SocketEventSink } from './realtime-socket.js'

/** ws's readyState values (WebSocket.OPEN / CONNECTING, without importing ws at runtime). */
const OPEN = 1
const CONNECTING = 0

/** The connection of each plain ws socket, for the listeners shared by all of them. */
const owners = new WeakMap<WebSocket, WebSocketConnection>()

/** The TCP stream under a WebSocket: frames may be written to it, and its `drain` is followed. */
type NetStream = FrameSink & DrainSource

/** A connection on a ws socket; see the module comment. */
export class WebSocketConnection extends Connection implements SocketEventSink {
  readonly socket: WebSocket
  /** The upgrade's TCP stream when frames may be written to it directly, else null. */
  readonly #rawStream: NetStream | null
  /** The upgrade's TCP stream, whose `drain` releases a coalesced tick (null: none to follow). */
  readonly #drainSource: DrainSource | null

  /**
   * @param socket - the upgraded ws socket
   * @param stream - the upgrade request's TCP socket (`request.raw.socket`); optional
   * @param resumable - follow the client's positions for its resume token
   */
  constructor (socket: WebSocket, stream: unknown, shared: ConnectionShared, init: ConnectionInit, resumable = false) {
    super(shared, init)
    this.socket = socket
    this.#drainSource = isDrainSource(stream) ? stream : null
    this.#rawStream = isFrameSink(stream) && isDrainSource(stream) && frameSinkOf(socket, stream) !== null ? stream : null
    if (resumable) this.markResumable()
    // Events are wired synchronously, before any await, or a message sent right after the open is lost.
    if (socket instanceof RealtimeSocket) {
      socket.eventSink = this
      return
    }
    owners.set(socket, this)
    socket.on('message', WebSocketConnection.#onMessage)
    socket.on('error', WebSocketConnection.#onError)
    socket.on('close', WebSocketConnection.#onClose)
    socket.on('pong', WebSocketConnection.#onPong)
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
    this.off('message', WebSocketConnection.#onMessage)
    this.off('close', WebSocketConnection.#onClose)
    this.off('pong', WebSocketConnection.#onPong)
    // The error listener stays (it is shared, so it costs nothing): a socket must never be left
    // without one, since @fastify/websocket's own is removed at accept (see upgrade/release.ts).
    const connection = owners.get(this)
    if (connection === undefined) return
    owners.delete(this)
    connection.socketClose(code, reason)
  }

  // ---- SocketEventSink: the socket's events ----

  /** A message arrived. */
  socketMessage (data: RawData, isBinary: boolean): void {
    this.received(data, isBinary)
  }

  /** A pong arrived. */
  socketPong (): void {
    this.receivedPong()
  }

  /** The socket reported an error. */
  socketError (error: Error): void {
    this.failed(error)
  }

  /** The socket closed. */
  socketClose (code: number, reason: Buffer): void {
    this.ended(code, reason.toString())
  }

  // ---- the transport ----

  get isOpen (): boolean {
    return this.socket.readyState === OPEN
  }

  get bufferedBytes (): number {
    return this.socket.bufferedAmount
  }

  protected get drainSource (): DrainSource | null {
    return this.#drainSource
  }

  /** Whether frames go straight to the TCP stream (false: through ws.send). */
  get rawWrites (): boolean {
    return this.#rawStream !== null
  }

  protected write (frame: TextFrame): void {
    const position = frame.position
    if (position !== undefined && this.resumable) (this.positions ??= new StreamPositions()).apply(position)
    const stream = this.#rawStream
    if (stream !== null) writeFrame(stream, frame.bytes)
    else this.socket.send(frame.text)
  }

  protected override offerNow (): void {
    if (this.#rawStream !== null) releaseCork(this.#rawStream)
  }

  protected whenWritten (callback: () => void): void {
    if (this.#rawStream !== null) {
      whenWritten(this.#rawStream, callback)
      return
    }
    // Through ws.send: a ping's callback comes once it, and every frame before it, was written.
    if (this.isOpen) this.socket.ping(undefined, undefined, callback)
  }

  close (code: number, reason = ''): void {
    const state = this.socket.readyState
    if (state === OPEN || state === CONNECTING) this.socket.close(this.protocol.closeCode(code), clipCloseReason(reason))
  }

  terminate (): void {
    this.socket.terminate()
  }

  ping (): void {
    this.socket.ping()
  }
}
