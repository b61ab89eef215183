/**
 * The Server-Sent Events transport: a {@link Connection} whose frames travel as the events of one
 * `text/event-stream` response, for browsers where WebSockets are blocked. A plain `EventSource`
 * reads it: every frame is one unnamed event whose data is the frame's JSON (exactly what a
 * WebSocket client gets), so channels, ticks, presence, the send budget, drain and recovery work
 * as they do on a WebSocket.
 *
 * What differs:
 * - Every frame that moves a channel (a publication, a subscribe's `ack`) carries an event `id`
 *   naming the position of EVERY channel of the stream (recovery/sse-event-ids.ts); the browser sends the
 *   last one back as `Last-Event-ID` when it reconnects, and the stream resumes all of them.
 *   An unsubscribe is written as an event with only an id, which updates the browser's last id
 *   without an event reaching the page.
 * - The client's requests arrive in POSTs bound to the stream by its key (endpoints/sse-routes.ts), and
 *   enter the same path as a WebSocket message ({@link SseConnection.clientSent}).
 * - A heartbeat is a comment line (`: ping`), which also keeps proxies from timing the stream out;
 *   its "pong" is the comment being handed to the network.
 * - A close is a `close` event (`{"code","reason"}`, with a `retry:` field when the reason carries
 *   a retry hint) and the end of the response: the browser reconnects after `retry` ms.
 */
import type { ServerResponse } from 'node:http'
import { randomBytes, timingSafeEqual } from 'node:crypto'
import { clipCloseReason } from '../errors.js'
import type { DrainSource } from '../limits/send-budget.js'
import { Connection, type ConnectionInit, type ConnectionShared, type Keeper } from '../node/connection.js'
import type { TextFrame } from '../protocols/ws-frame.js'
import { releaseCork, whenWritten, writeFrame } from './raw-frames.js'
import { SseEventIds, type CursorStore } from '../recovery/sse-event-ids.js'

/** What {@link SseConnection} needs beyond a connection's identity. */
export interface SseStreamInit {
  /** Where the stream keeps its cursors when its ids would not fit (the adapter's shared state). */
  cursors: CursorStore
  /** How long a cursor outlives the stream. */
  cursorTtlMs: number
  /** The `retry:` the stream opens with: how long the browser waits before reconnecting if it is cut. */
  retryMs: number
}

/** Close code reported when the client went away without the server closing (as a WebSocket's 1006). */
const ABNORMAL_CLOSURE = 1006
/** How long a closed stream may take to hand its last bytes to a client that stopped reading (as ws's close timeout). */
const CLOSE_TIMEOUT_MS = 30_000
const RETRY_HINT = /retry=(\d+)/

/** See the module comment. */
export class SseConnection extends Connection {
  readonly #response: ServerResponse
  readonly #ids: SseEventIds
  /** The secret part of the stream's key: a POST must present it. */
  readonly #secret = randomBytes(18).toString('base64url')
  /** The close this server started, reported when the response ends. */
  #closing: { code: number, reason: string } | null = null
  /** Cuts a closed stream whose client does not read its last bytes. */
  #closeTimer: ReturnType<typeof setTimeout> | null = null

  /**
   * @param response - the stream's response; its status and headers are already written
   */
  constructor (response: ServerResponse, shared: ConnectionShared, init: ConnectionInit, stream: SseStreamInit) {
    super(shared, init)
    this.#response = response
    this.#ids = new SseEventIds(this.id, stream.cursors, stream.cursorTtlMs, (err) => { this.log.warn({ err }, 'event stream cursor not stored') })
    this.positions = this.#ids.positions
    this.markResumable()
    // Wired before anything else can happen to the response, as a WebSocket's events are.
    response.once('close', () => {
      if (this.#closeTimer !== null) clearTimeout(this.#closeTimer)
      this.ended(this.#closing?.code ?? ABNORMAL_CLOSURE, this.#closing?.reason ?? '')
    })
    response.on('error', (error: Error) => { this.failed(error) })
    response.write(`retry: ${stream.retryMs}\n\n`)
  }

  /** The secret a POST for this stream must present. */
  get secret (): string {
    return this.#secret
  }

  /** Whether `secret` is this stream's (in constant time). */
  matches (secret: string): boolean {
    const given = Buffer.from(secret)
    const own = Buffer.from(this.#secret)
    return given.length === own.length && timingSafeEqual(given, own)
  }

  /** The id of the current positions (what the browser would send back now). */
  get lastEventId (): string {
    return this.#ids.current()
  }

  /** The cursor the ids build on, when the positions no longer fit an id. */
  get cursor (): string | null {
    return this.#ids.cursor
  }

  /** The client sent a request or a text (a POST bound to this stream). */
  clientSent (text: string): void {
    this.received(text, false)
  }

  /** An event stream's browser comes back with its `Last-Event-ID`: what it leaves is its cursor, kept another TTL. */
  override leaveBehind (keeper: Keeper): void {
    keeper.track(this.#ids.refresh())
  }

  // ---- the transport ----

  get isOpen (): boolean {
    return this.#closing === null && !this.#response.writableEnded && !this.#response.destroyed
  }

  get bufferedBytes (): number {
    return this.#response.writableLength
  }

  protected get drainSource (): DrainSource {
    return this.#response
  }

  protected write (frame: TextFrame): void {
    const position = frame.position
    let event: string
    if (position === undefined) {
      event = `data: ${frame.text}\n\n`
    } else {
      this.#ids.positions.apply(position)
      event = `id: ${this.#ids.current()}\ndata: ${frame.text}\n\n`
    }
    // Events written in one turn leave in one write, as WebSocket frames do.
    writeFrame(this.#response, Buffer.from(event))
  }

  protected override offerNow (): void {
    releaseCork(this.#response)
  }

  protected whenWritten (callback: () => void): void {
    if (this.isOpen) whenWritten(this.#response, callback)
  }

  protected override positionsChanged (): void {
    if (this.isOpen) writeFrame(this.#response, Buffer.from(`id: ${this.#ids.current()}\n\n`))
  }

  close (code: number, reason = ''): void {
    if (!this.isOpen) return
    const clipped = clipCloseReason(reason)
    const wireCode = this.protocol.closeCode(code)
    this.#closing = { code: wireCode, reason: clipped }
    const retry = RETRY_HINT.exec(clipped)?.[1]
    writeFrame(this.#response, Buffer.from(`${retry === undefined ? '' : `retry: ${retry}\n`}event: close\ndata: ${JSON.stringify({ code: wireCode, reason: clipped })}\n\n`))
    this.#response.end()
    this.#closeTimer = setTimeout(() => { this.#response.destroy() }, CLOSE_TIMEOUT_MS)
    this.#closeTimer.unref()
  }

  terminate (): void {
    this.#response.destroy()
  }

  ping (): void {
    if (!this.isOpen) return
    this.#response.write(': ping\n\n', (err) => {
      if (err === null || err === undefined) this.receivedPong()
    })
  }
}
