/**
 * One client connection: its identity (id, ip, visitor), a child logger, sending while OPEN, and
 * closing with a code. It attaches its own socket listeners and removes them when the socket
 * closes, so nothing it registered outlives it.
 */
import { randomBytes } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import type { WebSocket, RawData } from 'ws'
import { clipCloseReason } from './errors.js'
import type { Visitor } from './visitor.js'
import { frameSinkOf, writeFrame, type FrameSink, type TextFrame } from './ws-frame.js'

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
  /** Start a clean close with a code and a short reason. */
  close: (code: number, reason?: string) => void
}

/** Receives a connection's socket events; one instance serves every connection of a plugin. */
export interface ConnectionEvents {
  message: (connection: Connection, data: RawData, isBinary: boolean) => void
  close: (connection: Connection, code: number, reason: string) => void
  error: (connection: Connection, error: Error) => void
}

/** What a connection is made from. */
export interface ConnectionInit {
  ip: string
  visitor: Visitor | null
  log: FastifyBaseLogger
  events: ConnectionEvents
  /** The upgrade request's socket (`request.raw.socket`), for raw frame writes; optional. */
  stream?: unknown
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
  /** ws's own TCP stream when frames may be written to it directly, else null (ws.send is used). */
  readonly #sink: FrameSink | null
  #closed = false

  constructor (id: string, socket: WebSocket, init: ConnectionInit) {
    this.id = id
    this.socket = socket
    this.ip = init.ip
    this.visitor = init.visitor
    this.log = init.log
    this.connectedAt = Date.now()
    this.#sink = frameSinkOf(socket, init.stream)
    const { events } = init
    // Listeners go on synchronously, before any await, or a message sent right after the open is lost.
    const onMessage = (data: RawData, isBinary: boolean): void => events.message(this, data, isBinary)
    const onError = (error: Error): void => events.error(this, error)
    socket.on('message', onMessage)
    socket.on('error', onError)
    socket.once('close', (code: number, reason: Buffer) => {
      this.#closed = true
      socket.off('message', onMessage)
      socket.off('error', onError)
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
    if (this.socket.readyState !== OPEN) return false
    this.socket.send(text)
    return true
  }

  /**
   * Send a frame built once for many sockets ({@link textFrame}) if the socket is OPEN: its bytes
   * go straight to the TCP stream, coalesced with this turn's other writes to the same socket.
   * @param frame - the prepared frame
   * @param kind - the server message type (`tick`, `broadcast`, `pub`…), for send-budget policy
   * @returns whether it was sent
   */
  sendFrame (frame: TextFrame, kind: string): boolean {
    if (this.socket.readyState !== OPEN) return false
    if (this.#sink === null) this.socket.send(frame.text)
    else writeFrame(this.#sink, frame.bytes)
    return true
  }

  /** Whether frames go straight to the TCP stream (false: through ws.send). */
  get rawWrites (): boolean {
    return this.#sink !== null
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
