/**
 * The wire form of a server frame, built once. A message bound for many sockets (a tick batch, a
 * broadcast, a publication, a presence change) is serialised and framed once as an unmasked
 * RFC 6455 text frame, and the same bytes go to every socket (transports/raw-frames.ts writes
 * them); a message for one socket is framed the same way, so there is one kind of frame to send.
 */
import type { StreamPosition } from '../adapters/adapter.js'

/** Largest payload length that fits the 7-bit length field. */
const LEN_7_MAX = 125
/** Largest payload length that fits the 16-bit extended length field. */
const LEN_16_MAX = 0xffff
/** FIN bit set, opcode 0x1 (text). */
const FIN_TEXT = 0x81

/**
 * Where a client stands in a channel's stream once it has a frame: the channel and its
 * {@link StreamPosition}, a publication's own, or where a subscription's replay starts (its
 * `ack`). Connections that resume for their client (an event stream's ids, a WebSocket's resume
 * token) follow it; nothing is sent for it.
 */
export interface FramePosition extends Readonly<StreamPosition> {
  readonly channel: string
}

/** A text frame built once: the JSON text (for the ws fallback) and its wire bytes. */
export interface TextFrame {
  /** The payload, as sent through `ws.send` when raw writes are not possible. */
  readonly text: string
  /** Header + payload, exactly as written to the wire by a server (unmasked). */
  readonly bytes: Buffer
  /** UTF-8 length of the payload (what metrics count as a frame's size). */
  readonly payloadBytes: number
  /** The stream position a client reaches with this frame, for frames that move one. */
  readonly position?: FramePosition | undefined
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
 * @param position - the stream position the frame moves its client to (a publication, a subscribe's ack)
 * @returns the frame's text and bytes
 */
export function textFrame (text: string, position?: FramePosition): TextFrame {
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
  return position === undefined ? { text, bytes, payloadBytes } : { text, bytes, payloadBytes, position }
}
