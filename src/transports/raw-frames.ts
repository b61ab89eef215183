/**
 * Frame once, write many: the bytes of a frame built once (protocols/ws-frame.ts) written straight to
 * each socket's TCP stream. Frames written to one socket during one event-loop turn leave in a
 * single `writev` (the stream is corked on the first write of the turn and uncorked on the next
 * tick), so a burst of 100 messages costs one system call per socket instead of one (or two) per
 * message, as uWebSockets does.
 *
 * Writing beside ws is safe because ws writes its own frames (pings, closes) to the same stream in
 * call order, as long as its sender never queues: that holds when no extension
 * (permessage-deflate) was negotiated and nothing sends Blobs. {@link frameSinkOf} checks the
 * first; this project never sends Blobs.
 */
import { Socket } from 'node:net'
import type { WebSocket } from 'ws'

/** The part of a stream (a `net.Socket`) a frame is written to. */
export interface FrameSink {
  write: (chunk: Buffer, callback?: (error?: Error | null) => void) => boolean
  cork: () => void
  uncork: () => void
  readonly writableLength: number
  readonly destroyed: boolean
}

/** Whether `value` has the `write`/`cork`/`uncork` of a {@link FrameSink} (a net.Socket has). */
export function isFrameSink (value: unknown): value is FrameSink {
  if (typeof value !== 'object' || value === null) return false
  const candidate = value as Record<string, unknown>
  return typeof candidate.write === 'function' && typeof candidate.cork === 'function' && typeof candidate.uncork === 'function'
}

/**
 * The stream raw frames may be written to for `socket`, or null when they must go through
 * `ws.send`. `stream` is the upgrade request's socket (`request.raw.socket`). It is the stream ws
 * writes to by construction, with public APIs only: Node's HTTP server emits `'upgrade'` with the
 * request's own socket (`request.socket`), and @fastify/websocket hands ws that socket
 * (`handleUpgrade(request, socket, head)`). So only a real TCP socket (`net.Socket`, or a TLS
 * socket, which extends it) qualifies: an injected request (`injectWS`) carries a stand-in of its
 * own while ws writes to another stream. And only when no extension was negotiated (a deflating
 * sender may queue, and raw bytes would overtake it).
 * @param socket - the ws connection
 * @param stream - the upgrade request's socket, as the HTTP server saw it
 */
export function frameSinkOf (socket: WebSocket, stream: unknown): FrameSink | null {
  if (!(stream instanceof Socket) || socket.extensions !== '') return null
  return stream
}

/** Sinks corked during the current turn; uncorked together on the next tick. */
let corked = new Set<FrameSink>()

function uncorkAll (): void {
  const sinks = corked
  corked = new Set()
  for (const sink of sinks) sink.uncork()
}

/**
 * Write frame bytes to a sink, coalescing every write to it in this turn into one `writev`.
 * Order with writes made by ws itself is kept: they land in the same corked buffer.
 * @param sink - the socket's stream
 * @param bytes - a complete frame
 */
export function writeFrame (sink: FrameSink, bytes: Buffer): void {
  if (sink.destroyed) return
  if (!corked.has(sink)) {
    // Node counts nested corks, so ws's own cork/uncork pairs in this turn leave ours in place.
    sink.cork()
    corked.add(sink)
    if (corked.size === 1) process.nextTick(uncorkAll)
  }
  sink.write(bytes)
}

/**
 * Offer what was written to `sink` in this turn to the network now, instead of at the end of the
 * turn: the send budget judges what the kernel leaves waiting, not what one turn queued
 * (limits/send-budget.ts). A later write in the same turn corks the sink again.
 * @param sink - a sink {@link writeFrame} may have corked
 */
export function releaseCork (sink: FrameSink): void {
  if (!corked.delete(sink)) return
  sink.uncork()
}

/** An empty chunk: written with a callback, it calls back once every byte before it was written. */
const NOTHING = Buffer.alloc(0)

/**
 * Call `callback` once every byte written to `sink` so far has been handed to the network (or the
 * sink failed). Streams call write callbacks in order, and an empty chunk adds no byte.
 * @param sink - the socket's stream, or an HTTP response
 * @param callback - called once, with the stream's error if it failed
 */
export function whenWritten (sink: FrameSink, callback: (error?: Error | null) => void): void {
  sink.write(NOTHING, callback)
}

/** How many sinks are corked right now, waiting for the end of the turn (for tests). */
export function pendingSinks (): number {
  return corked.size
}
