/**
 * Frame once, write many. A message bound for many sockets (a tick batch, a broadcast, a
 * publication) is serialised and framed once as an unmasked RFC 6455 text frame, and the same
 * bytes are written to every socket's TCP stream. Frames written to one socket during one
 * event-loop turn leave in a single `writev` (the stream is corked on the first write of the turn
 * and uncorked on the next tick), so a burst of 100 messages costs one system call per socket
 * instead of one (or two) per message, as uWebSockets does.
 *
 * Writing beside ws is safe because ws writes its own frames to the same stream in call order,
 * as long as its sender never queues: that holds when no extension (permessage-deflate) was
 * negotiated and nothing sends Blobs. {@link frameSinkOf} checks the first; this project never
 * sends Blobs.
 */
import type { WebSocket } from 'ws'

/** Largest payload length that fits the 7-bit length field. */
const LEN_7_MAX = 125
/** Largest payload length that fits the 16-bit extended length field. */
const LEN_16_MAX = 0xffff
/** FIN bit set, opcode 0x1 (text). */
const FIN_TEXT = 0x81

/** A text frame built once: the JSON text (for the ws fallback) and its wire bytes. */
export interface TextFrame {
  /** The payload, as sent through `ws.send` when raw writes are not possible. */
  readonly text: string
  /** Header + payload, exactly as written to the wire by a server (unmasked). */
  readonly bytes: Buffer
  /** UTF-8 length of the payload (what metrics count as a frame's size). */
  readonly payloadBytes: number
}

/** The part of a stream (a `net.Socket`) a frame is written to. */
export interface FrameSink {
  write: (chunk: Buffer) => boolean
  cork: () => void
  uncork: () => void
  readonly writableLength: number
  readonly destroyed: boolean
}

/**
 * Length of the header of an unmasked frame with `payloadBytes` of payload.
 * @returns 2, 4 or 10
 */
export function frameHeaderBytes (payloadBytes: number): number {
  if (payloadBytes <= LEN_7_MAX) return 2
  return payloadBytes <= LEN_16_MAX ? 4 : 10
}

/**
 * Build one unmasked, final text frame (RFC 6455 §5.2) in a single buffer.
 * @param text - the payload; encoded as UTF-8
 * @returns the frame's text and bytes
 */
export function textFrame (text: string): TextFrame {
  const payloadBytes = Buffer.byteLength(text)
  const headerBytes = frameHeaderBytes(payloadBytes)
  const bytes = Buffer.allocUnsafe(headerBytes + payloadBytes)
  bytes[0] = FIN_TEXT
  if (headerBytes === 2) {
    bytes[1] = payloadBytes
  } else if (headerBytes === 4) {
    bytes[1] = 126
    bytes.writeUInt16BE(payloadBytes, 2)
  } else {
    bytes[1] = 127
    // Payloads stay far below 2^53; the high word is written from the number itself.
    bytes.writeUInt32BE(Math.floor(payloadBytes / 0x1_0000_0000), 2)
    bytes.writeUInt32BE(payloadBytes >>> 0, 6)
  }
  bytes.write(text, headerBytes, 'utf8')
  return { text, bytes, payloadBytes }
}

/** Whether `value` has the `write`/`cork`/`uncork` of a {@link FrameSink} (a net.Socket has). */
export function isFrameSink (value: unknown): value is FrameSink {
  if (typeof value !== 'object' || value === null) return false
  const candidate = value as Record<string, unknown>
  return typeof candidate.write === 'function' && typeof candidate.cork === 'function' && typeof candidate.uncork === 'function'
}

/**
 * The stream raw frames may be written to for `socket`, or null when they must go through
 * `ws.send`. `stream` is the upgrade request's socket (`request.raw.socket`); it is used only when
 * it is provably the stream ws itself writes to (an injected test request has none) and no
 * extension was negotiated (a deflating sender may queue, and raw bytes would overtake it).
 * @param socket - the ws connection
 * @param stream - the upgrade request's socket, as the HTTP server saw it
 */
export function frameSinkOf (socket: WebSocket, stream: unknown): FrameSink | null {
  if (!isFrameSink(stream) || socket.extensions !== '') return null
  // ws keeps its stream in a private field; an identity check is the only use made of it.
  const own = (socket as unknown as { _socket?: unknown })._socket
  return own === stream ? stream : null
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

/** How many sinks are corked right now, waiting for the end of the turn (for tests). */
export function pendingSinks (): number {
  return corked.size
}
