/**
 * The WebSocket transport: a {@link Connection} whose bytes travel on a `ws` socket. Frames built
 * once go straight to the socket's TCP stream when that is provably ws's own and no extension
 * was negotiated (raw-frames.ts), and through `ws.send` otherwise (an injected test socket, a
 * negotiated extension). Its `bufferedAmount` is ws's, which counts the raw writes too, so the
 * send budget sees every byte; the TCP stream's `drain` releases a coalesced tick.
 *
 * A {@link RealtimeSocket} (the plugin's own ws class) hands its events to the connection with no
 * listener; a plain ws socket (an app that registered @fastify/websocket itself) gets listeners
 * shared by every connection, so there is no closure per socket either way.
 *
 * A resumable connection (one whose `welcome` carries a resume token) follows its client's stream
 * positions, frame by frame, and leaves them behind when it ends. What it leaves is what reached
 * the network: frames still queued in the process when this server cuts the socket (a kill, a
 * heartbeat timeout, a takeover, the end of a drain's grace) never reach the client, so their
 * positions are taken back. How many bytes reached the kernel is read just before the cut (see
 * {@link handedToKernel}); every byte written to the stream since the connection began is counted
 * here too (frames, pings, pongs), so the two line up, and the journal holds only the frames that
 * were still queued. When the other side ends the connection, what was in flight is unknowable:
 * the positions are those of everything handed to the network.
 */
import type { WebSocket, RawData } from 'ws'
import { clipCloseReason } from '../errors.js'
import { isDrainSource, type DrainSource } from '../limits/send-budget.js'
import { Connection, type ConnectionInit, type ConnectionShared } from '../node/connection.js'
import { StreamPositions, type Position } from '../node/stream-positions.js'
import type { TextFrame } from '../wire/ws-frame.js'
import { frameSinkOf, isFrameSink, writeFrame, type FrameSink } from './raw-frames.js'
import { RealtimeSocket, type SocketEventSink } from './realtime-socket.js'

/** ws's readyState values (WebSocket.OPEN / CONNECTING, without importing ws at runtime). */
const OPEN = 1
const CONNECTING = 0

/** The connection of each plain ws socket, for the listeners shared by all of them. */
const owners = new WeakMap<WebSocket, WebSocketConnection>()

/** The TCP stream under a WebSocket: frames may be written to it, and its `drain` is followed. */
type NetStream = FrameSink & DrainSource & { readonly bytesWritten?: number }

/** A frame that moved a channel while it was still queued in the process, and where the channel was before it. */
interface Queued {
  channel: string
  previous: Position | undefined
  /** Bytes written to the stream since the connection began, this frame included. */
  end: number
}

/** Size of a ping or pong frame's header (a server's frames are unmasked). */
const CONTROL_HEADER_BYTES = 2

/**
 * How many bytes of a TCP socket's stream have reached the kernel (and so reach the peer even if
 * the socket is destroyed now): what Node dispatched to libuv less what libuv still queues.
 * These are fields of Node's net.Socket (its own `bytesWritten` getter reads the first), not
 * public API; without them the answer is unknown. test/integration/resume/ checks them.
 */
function handedToKernel (stream: unknown): number | undefined {
  const socket = stream as { _bytesDispatched?: unknown, _handle?: { writeQueueSize?: unknown } | null }
  if (typeof socket._bytesDispatched !== 'number') return undefined
  const queued = socket._handle?.writeQueueSize
  return socket._bytesDispatched - (typeof queued === 'number' ? queued : 0)
}

/** A connection on a ws socket; see the module comment. */
export class WebSocketConnection extends Connection implements SocketEventSink {
  readonly socket: WebSocket
  /** The upgrade's TCP stream when frames may be written to it directly, else null. */
  readonly #rawStream: NetStream | null
  /** The upgrade's TCP stream, whose `drain` releases a coalesced tick (null: none to follow). */
  readonly #drainSource: DrainSource | null
  /** The stream's `bytesWritten` when the connection began. */
  #baseBytes = 0
  /** Bytes written to the stream since (frames, pings, pongs), for a resumable connection on raw writes. */
  #sentBytes = 0
  /** Whether byte counts are followed (a resumable connection on raw writes). */
  #countsBytes = false
  /** Position changes whose frames may still be queued in the process, oldest first; made when one is. */
  #queued: Queued[] | null = null
  /** Bytes that had reached the kernel when this server cut the socket. */
  #handedAtCut: number | undefined = undefined

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
    if (resumable) {
      this.positions = new StreamPositions()
      // Byte counts line up with the stream's only when every frame is written as built here.
      if (this.#rawStream !== null && typeof this.#rawStream.bytesWritten === 'number') {
        this.#baseBytes = this.#rawStream.bytesWritten
        this.#countsBytes = true
      }
    }
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
    socket.on('ping', WebSocketConnection.#onPing)
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

  static readonly #onPing = function (this: WebSocket, data: Buffer): void {
    owners.get(this)?.socketPing(data)
  }

  static readonly #onClose = function (this: WebSocket, code: number, reason: Buffer): void {
    this.off('message', WebSocketConnection.#onMessage)
    this.off('close', WebSocketConnection.#onClose)
    this.off('pong', WebSocketConnection.#onPong)
    this.off('ping', WebSocketConnection.#onPing)
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

  /** The client pinged: ws answers with a pong of the same payload, written to the stream. */
  socketPing (data: Buffer): void {
    this.#sentBytes += CONTROL_HEADER_BYTES + data.length
  }

  /** The socket reported an error. */
  socketError (error: Error): void {
    this.failed(error)
  }

  /** The socket closed. */
  socketClose (code: number, reason: Buffer): void {
    this.#takeBackUnsent()
    this.ended(code, reason.toString())
  }

  /** Undo the positions of frames that were still queued when the socket closed: they were dropped. */
  #takeBackUnsent (): void {
    const queued = this.#queued
    const positions = this.positions
    const dispatched = this.#handedAtCut ?? this.#rawStream?.bytesWritten
    if (queued === null || queued.length === 0 || positions === null || dispatched === undefined) return
    const handed = dispatched - this.#baseBytes
    for (let last = queued.at(-1); last !== undefined && last.end > handed; last = queued.at(-1)) {
      positions.revert(last.channel, last.previous)
      queued.pop()
    }
    queued.length = 0
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
    const positions = this.positions
    const previous = position !== undefined && positions !== null ? positions.apply(position) : undefined
    if (this.#rawStream !== null) writeFrame(this.#rawStream, frame.bytes)
    else this.socket.send(frame.text)
    if (!this.#countsBytes || this.#rawStream === null) return
    this.#sentBytes += frame.bytes.length
    // Bytes still in the process: the frames they belong to may yet be dropped by a cut.
    const pending = this.#rawStream.writableLength
    const queued = this.#queued
    if (queued !== null) {
      const flushed = this.#sentBytes - pending
      while (queued.length > 0 && (queued[0]?.end ?? 0) <= flushed) queued.shift()
    }
    if (position !== undefined && pending > 0) (this.#queued ??= []).push({ channel: position.channel, previous, end: this.#sentBytes })
  }

  close (code: number, reason = ''): void {
    const state = this.socket.readyState
    if (state === OPEN || state === CONNECTING) this.socket.close(code, clipCloseReason(reason))
  }

  terminate (): void {
    if (this.#queued !== null && this.#queued.length > 0) this.#handedAtCut = handedToKernel(this.#rawStream)
    this.socket.terminate()
  }

  ping (): void {
    this.socket.ping()
    this.#sentBytes += CONTROL_HEADER_BYTES
  }
}
